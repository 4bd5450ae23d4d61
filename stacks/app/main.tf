# The app's configuration in SSM: where its queue is, and its database password.
# Plain Terraform for hashicorp/aws (see stacks/storage for how it runs on the sandbox).

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The version these stacks were tested with: no lock file is committed (the
      # sandbox's provider would not match its hashes), so this is the pin. The sandbox
      # still swaps in its own provider; `sandbox up --provider-mirror` runs this one.
      version = "5.100.0"
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
