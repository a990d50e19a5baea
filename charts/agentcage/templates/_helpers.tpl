{{/* Names and labels shared by every template. */}}
{{- define "agentcage.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agentcage.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agentcage.operatorName" -}}
{{- printf "%s-operator" (include "agentcage.fullname" .) -}}
{{- end -}}

{{- define "agentcage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentcage.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agentcage.labels" -}}
{{ include "agentcage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agentcage
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "agentcage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agentcage.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "agentcage.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The memory limit in MiB (Mi or Gi quantities), for the V8 heap cap. Default 512. */}}
{{- define "agentcage.memoryMiB" -}}
{{- $m := toString (default "512Mi" (dig "limits" "memory" "" .Values.resources)) -}}
{{- if hasSuffix "Gi" $m -}}
{{- mul (trimSuffix "Gi" $m | int) 1024 -}}
{{- else if hasSuffix "Mi" $m -}}
{{- trimSuffix "Mi" $m | int -}}
{{- else -}}
512
{{- end -}}
{{- end -}}
