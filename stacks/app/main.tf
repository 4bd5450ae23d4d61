# The app's configuration in SSM: where its queue is, and its database password.
# Plain Terraform for hashicorp/aws (see stacks/storage for how it runs on the sandbox).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0" # tested with; no lock file is committed, so this is the pin
    }
  }
  backend "s3" {}
}

provider "aws" {
  region = var.region
}

locals {
  tags = {
    environment = var.environment
    managed_by  = "infra-gitops"
    stack       = "app"
  }
}

resource "aws_ssm_parameter" "queue_url" {
  name        = "/${var.name_prefix}/${var.environment}/queue_url"
  type        = "String"
  value       = var.queue_url
  description = "URL of the jobs queue (from the storage stack)."
  tags        = local.tags
}

resource "aws_ssm_parameter" "db_password" {
  name        = "/${var.name_prefix}/${var.environment}/db_password"
  type        = "SecureString"
  value       = var.db_password
  description = "Database password."
  tags        = local.tags
}
