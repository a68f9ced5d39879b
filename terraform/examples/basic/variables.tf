variable "kubeconfig" {
  description = "Path of the kubeconfig file."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context to deploy into; null uses the current context."
  type        = string
  default     = null
}

variable "database_url" {
  description = "External PostgreSQL URL; null runs PostgreSQL inside the cluster (fine for trying it out)."
  type        = string
  default     = null
  sensitive   = true
}

variable "server_chart_version" {
  description = "prefect-server chart version (null: newest)."
  type        = string
  default     = null
}

variable "worker_chart_version" {
  description = "prefect-worker chart version (null: newest)."
  type        = string
  default     = null
}

variable "sync_repo" {
  description = "Git repository of the pipeform specs the controller syncs; null installs no controller."
  type        = string
  default     = null
}
