{{- define "pipeform-sync.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pipeform-sync.labels" -}}
app.kubernetes.io/name: pipeform
app.kubernetes.io/component: sync
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pipeform-sync.selector" -}}
app.kubernetes.io/name: pipeform
app.kubernetes.io/component: sync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pipeform-sync.secretName" -}}
{{- if .Values.secrets.existingSecret -}}{{ .Values.secrets.existingSecret }}{{- else -}}{{ include "pipeform-sync.fullname" . }}{{- end -}}
{{- end -}}

{{- define "pipeform-sync.hasSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.create -}}true{{- end -}}
{{- end -}}
