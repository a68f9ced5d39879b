# The Prefect platform pipeform targets: a Prefect server (API, UI, scheduler) on PostgreSQL and a
# worker for a kubernetes work pool, both from the official prefect-helm charts. pipeform itself then
# manages flows, deployments, pools, limits and variables on that server (`pipeform apply`).

locals {
  namespace  = var.create_namespace ? kubernetes_namespace.this[0].metadata[0].name : var.namespace
  values_dir = var.values_dir != null ? var.values_dir : "${path.module}/../deploy/helm"

  external_database = var.database_url != null
  # The chart reads the connection string from this Secret (key `connection-string`).
  database_secret_name = "prefect-server-database"

  server_release = "prefect-server"
  # The chart's fullnameOverride defaults to the release name, and so does the Service's name.
  api_url    = "http://${local.server_release}.${local.namespace}.svc.cluster.local:4200/api"
  ui_api_url = var.ui_api_url != null ? var.ui_api_url : (var.ingress_host != null ? "https://${var.ingress_host}/api" : local.api_url)

  server_image_tag = "${var.prefect_version}-python${var.python_version}"
  worker_image_tag = "${var.prefect_version}-python${var.python_version}-kubernetes"

  # Values that depend on the inputs; the shared values file under deploy/helm comes first.
  server_values = {
    global = { prefect = { image = { prefectTag = local.server_image_tag } } }
    server = {
      replicaCount = var.server_replicas
      uiConfig     = { prefectUiApiUrl = local.ui_api_url }
    }
    backgroundServices = { runAsSeparateDeployment = var.background_services_separate }
    redis              = { enabled = var.background_services_separate }
    postgresql = {
      enabled = !local.external_database
      primary = {
        persistence = {
          enabled = var.postgresql_persistence_size != null
          size    = var.postgresql_persistence_size != null ? var.postgresql_persistence_size : "1Gi"
        }
      }
    }
    secret = local.external_database ? { create = false, name = local.database_secret_name } : { create = true, name = "" }
    ingress = {
      enabled   = var.ingress_host != null
      className = var.ingress_class_name
      host      = { hostname = var.ingress_host != null ? var.ingress_host : "prefect.local", path = "/", pathType = "Prefix" }
    }
  }

  worker_values = {
    worker = {
      image                     = { prefectTag = local.worker_image_tag }
      replicaCount              = var.worker_replicas
      apiConfig                 = "selfHostedServer"
      selfHostedServerApiConfig = { apiUrl = local.api_url }
      config = merge(
        { workPool = var.work_pool_name, type = "kubernetes" },
        var.worker_base_job_template != null ? { baseJobTemplate = { configuration = var.worker_base_job_template } } : {},
      )
    }
  }
}

resource "kubernetes_namespace" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of" = "pipeform"
    }
  }
}

resource "kubernetes_secret" "database" {
  count = local.external_database ? 1 : 0

  metadata {
    name      = local.database_secret_name
    namespace = local.namespace
  }
  data = {
    "connection-string" = var.database_url
  }
  type = "Opaque"
}

# Password of the PostgreSQL subchart's `prefect` user; never written to values in clear text.
resource "random_password" "postgres" {
  count = local.external_database ? 0 : 1

  length  = 32
  special = false
}

resource "helm_release" "server" {
  name             = local.server_release
  namespace        = local.namespace
  create_namespace = false
  repository       = var.chart_repository
  chart            = "prefect-server"
  version          = var.server_chart_version
  timeout          = var.helm_timeout_seconds
  wait             = true

  values = concat(
    [file("${local.values_dir}/prefect-server.values.yaml")],
    [yamlencode(local.server_values)],
    var.server_extra_values,
  )

  dynamic "set_sensitive" {
    for_each = random_password.postgres
    content {
      name  = "postgresql.auth.password"
      value = set_sensitive.value.result
    }
  }

  depends_on = [kubernetes_secret.database]
}

resource "helm_release" "worker" {
  count = var.worker_enabled ? 1 : 0

  name             = "prefect-worker"
  namespace        = local.namespace
  create_namespace = false
  repository       = var.chart_repository
  chart            = "prefect-worker"
  version          = var.worker_chart_version
  timeout          = var.helm_timeout_seconds

  values = concat(
    [file("${local.values_dir}/prefect-worker.values.yaml")],
    [yamlencode(local.worker_values)],
    var.worker_extra_values,
  )

  # The worker registers its pool with the API: the server must be up first.
  depends_on = [helm_release.server]
}

# The GitOps controller (`pipeform sync`), from this repository's chart.
resource "helm_release" "sync" {
  count = var.sync_repo != null ? 1 : 0

  name             = "pipeform"
  namespace        = local.namespace
  create_namespace = false
  chart            = "${path.module}/../deploy/helm/pipeform-sync"
  timeout          = var.helm_timeout_seconds

  values = [yamlencode({
    replicaCount = var.sync_replicas
    image        = { repository = var.sync_image }
    prefect      = { apiUrl = local.api_url }
    sync = {
      repo     = var.sync_repo
      branch   = var.sync_branch
      path     = var.sync_path
      env      = var.sync_env
      interval = var.sync_interval_seconds
      prune    = var.sync_prune
      selfHeal = var.sync_self_heal
    }
    secrets = { existingSecret = var.sync_existing_secret }
  })]

  depends_on = [helm_release.server]
}
