variable "namespace" {
  description = "Kubernetes namespace for the Prefect server, the worker and pipeform's GitOps job."
  type        = string
  default     = "prefect"
}

variable "create_namespace" {
  description = "Create the namespace (false when it is managed elsewhere)."
  type        = bool
  default     = true
}

variable "chart_repository" {
  description = "Helm repository holding the prefect-server and prefect-worker charts."
  type        = string
  default     = "https://prefecthq.github.io/prefect-helm"
}

variable "server_chart_version" {
  description = "Version of the prefect-server chart. Pin it in production; null takes the newest."
  type        = string
  default     = null
}

variable "worker_chart_version" {
  description = "Version of the prefect-worker chart. Pin it in production; null takes the newest."
  type        = string
  default     = null
}

variable "prefect_version" {
  description = "Prefect release run by the server and the worker; pipeform is tested against 3.8."
  type        = string
  default     = "3.8.8"
}

variable "python_version" {
  description = "Python version of the Prefect images (image tags are <prefect_version>-python<python_version>)."
  type        = string
  default     = "3.11"
}

variable "database_url" {
  description = "External PostgreSQL URL (postgresql+asyncpg://user:pass@host:5432/db). null runs the chart's PostgreSQL subchart instead."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.database_url == null || can(regex("^postgresql\\+asyncpg://", var.database_url))
    error_message = "The database_url must start with postgresql+asyncpg:// (Prefect's async PostgreSQL driver)."
  }
}

variable "postgresql_persistence_size" {
  description = "Size of the subchart PostgreSQL volume (only without database_url). null keeps the data in the pod (tests only)."
  type        = string
  default     = "8Gi"
}

variable "server_replicas" {
  description = "Prefect API server replicas. More than one needs background_services_separate (and so Redis)."
  type        = number
  default     = 1

  validation {
    condition     = var.server_replicas >= 1
    error_message = "The server_replicas must be at least 1."
  }
}

variable "background_services_separate" {
  description = "Run the scheduler and other loop services in their own Deployment, with the Redis subchart as message broker."
  type        = bool
  default     = false
}

variable "ui_api_url" {
  description = "API URL as browsers reach it (ingress URL ending in /api). null uses the in-cluster URL."
  type        = string
  default     = null
}

variable "ingress_host" {
  description = "Host name for an Ingress in front of the server. null creates no Ingress."
  type        = string
  default     = null
}

variable "ingress_class_name" {
  description = "IngressClass of that Ingress."
  type        = string
  default     = ""
}

variable "work_pool_name" {
  description = "Kubernetes work pool the worker polls; pipeform WorkPool documents with this name manage its queues and template."
  type        = string
  default     = "kubernetes-pool"
}

variable "worker_enabled" {
  description = "Install the prefect-worker chart."
  type        = bool
  default     = true
}

variable "worker_replicas" {
  description = "Worker replicas polling the work pool."
  type        = number
  default     = 1
}

variable "worker_base_job_template" {
  description = "Base job template of the kubernetes work pool as a JSON string. null keeps Prefect's default."
  type        = string
  default     = null
}

variable "values_dir" {
  description = "Folder with the shared Helm values files (prefect-server.values.yaml, prefect-worker.values.yaml). null uses deploy/helm of this repository."
  type        = string
  default     = null
}

variable "server_extra_values" {
  description = "Further prefect-server values as YAML documents, applied last."
  type        = list(string)
  default     = []
}

variable "worker_extra_values" {
  description = "Further prefect-worker values as YAML documents, applied last."
  type        = list(string)
  default     = []
}

variable "helm_timeout_seconds" {
  description = "How long Helm waits for a release to become ready."
  type        = number
  default     = 600
}

variable "sync_repo" {
  description = "Git repository `pipeform sync` keeps the server in sync with (chart deploy/helm/pipeform-sync). null installs no controller."
  type        = string
  default     = null
}

variable "sync_branch" {
  description = "Branch the controller follows."
  type        = string
  default     = "main"
}

variable "sync_path" {
  description = "Folder of the pipeform project inside the repository."
  type        = string
  default     = "specs"
}

variable "sync_env" {
  description = "Overlay the controller applies (empty: none)."
  type        = string
  default     = ""
}

variable "sync_interval_seconds" {
  description = "Seconds between the controller's cycles (jittered)."
  type        = number
  default     = 60
}

variable "sync_prune" {
  description = "Delete owned objects that left the specs."
  type        = bool
  default     = true
}

variable "sync_self_heal" {
  description = "Put back owned objects changed on the server outside git."
  type        = bool
  default     = false
}

variable "sync_replicas" {
  description = "Controller replicas (2 for high availability: one leads, the other takes over)."
  type        = number
  default     = 1
}

variable "sync_image" {
  description = "Controller image repository (deploy/docker/Dockerfile)."
  type        = string
  default     = "ghcr.io/acme/pipeform"
}

variable "sync_existing_secret" {
  description = "Secret with PIPEFORM_GITHUB_WEBHOOK_SECRET, PIPEFORM_GITLAB_WEBHOOK_TOKEN, git-credentials, PREFECT_API_KEY (all optional)."
  type        = string
  default     = ""
}
