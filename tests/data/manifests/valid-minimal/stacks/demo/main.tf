resource "terraform_data" "demo" {}
