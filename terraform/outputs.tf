output "api_url" {
  description = "In-cluster Prefect API URL: set it as PREFECT_API_URL for pipeform (the pipeform-sync chart) and for workers."
  value       = local.api_url
}

output "ui_url" {
  description = "Prefect UI URL (the ingress when configured, else the in-cluster service)."
  value       = trimsuffix(local.ui_api_url, "/api")
}

output "namespace" {
  description = "Namespace holding the Prefect server and worker."
  value       = local.namespace
}

output "work_pool_name" {
  description = "Kubernetes work pool the worker polls."
  value       = var.work_pool_name
}

output "database" {
  description = "Which database the server uses: external or subchart."
  value       = local.external_database ? "external" : "subchart"
}

output "server_release" {
  description = "Helm release name and chart version of the Prefect server."
  value       = { name = helm_release.server.name, version = helm_release.server.version }
}
