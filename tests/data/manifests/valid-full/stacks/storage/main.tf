module "bucket" {
  source = "../../modules/bucket"
}
