output "api_url" {
  description = "PREFECT_API_URL for pipeform running in the cluster."
  value       = module.prefect.api_url
}

output "ui_url" {
  description = "Prefect UI."
  value       = module.prefect.ui_url
}

output "work_pool_name" {
  description = "Pool to name in pipeform Deployment documents (spec.work_pool.name)."
  value       = module.prefect.work_pool_name
}
