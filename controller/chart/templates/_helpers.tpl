{{/*
The name of the ServiceAccount and the Deployment: `helm install workflow-controller` gives the kustomize
base's names (workflow-controller, kwf-workflow-controller, ...); another release name keeps releases apart.
*/}}
{{- define "workflow-controller.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
What Helm adds to every object's labels: the chart, the release and the tool managing it. The comparison
with the kustomize base (tests/e2e/tests/helm_chart.rs) removes exactly these keys, and nothing else.
*/}}
{{- define "workflow-controller.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The labels of the controller's objects, as in the kustomize base, with the release's. */}}
{{- define "workflow-controller.labels" -}}
app.kubernetes.io/name: workflow-controller
app.kubernetes.io/part-of: kwf
{{ include "workflow-controller.releaseLabels" . }}
{{- end -}}

{{/* The Deployment's selector (immutable: the kustomize base's, so either can take over from the other). */}}
{{- define "workflow-controller.selectorLabels" -}}
app.kubernetes.io/name: workflow-controller
{{- end -}}

{{/* The image: the tag defaults to "v" + appVersion, the tag `cargo xtask image` gives this version. */}}
{{- define "workflow-controller.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default (printf "v%s" .Chart.AppVersion)) -}}
{{- end -}}
