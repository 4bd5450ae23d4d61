variable "region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region of the stack's resources."
}

variable "name_prefix" {
  type        = string
  default     = "demo"
  description = "Prefix of every resource name (lowercase letters, digits, hyphens)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 lowercase letters, digits or hyphens."
  }
}

variable "environment" {
  type        = string
  default     = "dev"
  description = "Environment name, used in names and tags."
}
