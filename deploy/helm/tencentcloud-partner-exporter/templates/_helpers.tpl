{{/* The chart's name, or nameOverride. */}}
{{- define "exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's objects' name: fullnameOverride, or release and chart name. */}}
{{- define "exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "exporter.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "exporter.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The labels that select the exporter's pod. */}}
{{- define "exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels. */}}
{{- define "exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret holding the one account's key. */}}
{{- define "exporter.credentialsSecret" -}}
{{- .Values.credentials.existingSecret | default (include "exporter.fullname" .) }}
{{- end }}

{{/* The Secret holding --web.config.file. */}}
{{- define "exporter.webConfigSecret" -}}
{{- .Values.webConfig.existingSecret | default (printf "%s-web-config" (include "exporter.fullname" .)) }}
{{- end }}

{{/* http or https, as the web configuration serves. */}}
{{- define "exporter.scheme" -}}
{{- if and .Values.webConfig.enabled .Values.webConfig.tls }}https{{ else }}http{{ end }}
{{- end }}

{{/* Where the snapshots are kept. */}}
{{- define "exporter.snapshotDir" -}}
/var/lib/tencentcloud-partner-exporter
{{- end }}

{{/* A probe, over HTTPS when the web configuration serves TLS. */}}
{{- define "exporter.probe" -}}
{{- $probe := deepCopy .probe }}
{{- if and .root.Values.webConfig.enabled .root.Values.webConfig.tls $probe.httpGet }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- toYaml $probe }}
{{- end }}
