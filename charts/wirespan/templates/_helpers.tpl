{{/* Chart name, at most 63 characters (a DNS label). */}}
{{- define "wirespan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name. */}}
{{- define "wirespan.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wirespan.collectorName" -}}
{{- printf "%s-collector" (include "wirespan.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wirespan.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wirespan
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end }}

{{- define "wirespan.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "wirespan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "wirespan.collectorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "wirespan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: collector
{{- end }}

{{- define "wirespan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wirespan.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wirespan.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The agent's OTLP endpoint: the explicit value, else the chart's Collector, else the
conventional in-cluster Collector address.
*/}}
{{- define "wirespan.otlpEndpoint" -}}
{{- if .Values.otlp.endpoint }}
{{- .Values.otlp.endpoint }}
{{- else if .Values.collector.enabled }}
{{- $port := ternary 4318 4317 (eq .Values.otlp.protocol "http/protobuf") }}
{{- printf "http://%s.%s.svc:%d" (include "wirespan.collectorName" .) .Release.Namespace $port }}
{{- else }}
{{- ternary "http://otel-collector.observability.svc:4318" "http://otel-collector.observability.svc:4317" (eq .Values.otlp.protocol "http/protobuf") }}
{{- end }}
{{- end }}

{{/* Whether the agent talks to the Kubernetes API (and so needs a token and RBAC). */}}
{{- define "wirespan.kubernetesEnabled" -}}
{{- ne .Values.agent.kubernetes "disabled" }}
{{- end }}
