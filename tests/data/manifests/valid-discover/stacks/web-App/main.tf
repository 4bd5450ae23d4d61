resource "terraform_data" "w" {}
