# An S3 bucket and an SQS queue. Plain Terraform for hashicorp/aws: runs unchanged on AWS,
# on LocalStack, and on the infra-gitops sandbox (which swaps in its own provider).

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
    stack       = "storage"
  }
}

resource "aws_s3_bucket" "artifacts" {
  bucket = "${var.name_prefix}-${var.environment}-artifacts"
  tags   = local.tags
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${var.name_prefix}-${var.environment}-jobs"
  visibility_timeout_seconds = 60
  tags                       = local.tags
}
