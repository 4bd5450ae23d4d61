resource "terraform_data" "n" {}
