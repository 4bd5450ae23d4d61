output "queue_url_parameter" {
  description = "Name of the SSM parameter holding the queue URL."
  value       = aws_ssm_parameter.queue_url.name
}

output "db_password_parameter" {
  description = "Name of the SSM parameter holding the database password."
  value       = aws_ssm_parameter.db_password.name
}
