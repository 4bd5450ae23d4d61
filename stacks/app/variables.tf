variable "region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region of the stack's resources."
}

variable "name_prefix" {
  type        = string
  default     = "demo"
  description = "First path segment of the parameter names."
}

variable "environment" {
  type        = string
  default     = "dev"
  description = "Environment name, used in names and tags."
}

variable "queue_url" {
  type        = string
  description = "URL of the jobs queue: the storage stack's queue_url output."
}

variable "db_password" {
  type        = string
  sensitive   = true
  description = "Database password, stored as an SSM SecureString."
}
