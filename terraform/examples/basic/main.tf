# A Prefect platform for pipeform on the cluster of the current kubeconfig context:
#   terraform init && terraform apply
#   export PREFECT_API_URL=$(terraform output -raw api_url)   # from inside the cluster
#   pipeform apply --auto-approve examples/quickstart

provider "kubernetes" {
  config_path    = var.kubeconfig
  config_context = var.kube_context
}

provider "helm" {
  kubernetes {
    config_path    = var.kubeconfig
    config_context = var.kube_context
  }
}

module "prefect" {
  source = "../.."

  work_pool_name = "kubernetes-pool"
  # The GitOps controller (`pipeform sync`, chart deploy/helm/pipeform-sync).
  sync_repo    = var.sync_repo
  database_url = var.database_url

  # Pin chart versions in real use: `helm search repo prefect --versions`.
  server_chart_version = var.server_chart_version
  worker_chart_version = var.worker_chart_version

  server_extra_values = [
    yamlencode({ server = { resources = { requests = { cpu = "250m", memory = "512Mi" } } } }),
  ]
}
