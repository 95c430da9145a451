{{/* Names, labels and the pieces every workload shares. */}}

{{- define "shequ.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of one package's objects; "component" is the process kind (serve, relay, …). */}}
{{- define "shequ.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: shequ
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "shequ.selectorLabels" . }}
{{- end -}}

{{- define "shequ.selectorLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .package }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "shequ.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/shequ-%s:%s" .root.Values.image.registry .package $tag -}}
{{- end -}}

{{/* The in-cluster gRPC address of a service's serve Deployment. */}}
{{- define "shequ.target" -}}
{{- $spec := index .root.Values.services .package -}}
{{- printf "%s-%s:%v" (include "shequ.fullname" .root) .package $spec.grpcPort -}}
{{- end -}}

{{- define "shequ.cnpgCluster" -}}
{{- printf "%s-%s-db" (include "shequ.fullname" .root) .package -}}
{{- end -}}

{{/* Secret and key of a package's database URL: the operator's app Secret or an existing one. */}}
{{- define "shequ.databaseSecretRef" -}}
{{- $spec := index .root.Values.services .package -}}
{{- if .root.Values.operators.cloudnativepg.enabled -}}
name: {{ include "shequ.cnpgCluster" . }}-app
key: uri
{{- else -}}
name: {{ required (printf "services.%s.database.existingSecret is required" .package) $spec.database.existingSecret }}
key: {{ $spec.database.secretKey }}
{{- end -}}
{{- end -}}

{{/* Plain settings of a package, without its prefix: what the chart wires, then `config`. */}}
{{- define "shequ.settings" -}}
{{- $root := .root -}}
{{- $spec := index $root.Values.services .package -}}
{{- $settings := dict "ENVIRONMENT" $root.Values.environment "LOG_LEVEL" $root.Values.logLevel "KAFKA_BOOTSTRAP_SERVERS" $root.Values.kafka.bootstrapServers -}}
{{- if eq .package "gateway" -}}
{{- $_ := set $settings "HOST" "0.0.0.0" -}}
{{- $_ := set $settings "PORT" (toString $spec.httpPort) -}}
{{- $_ := set $settings "KEYCLOAK_URL" $root.Values.keycloak.url -}}
{{- $_ := set $settings "KEYCLOAK_REALM" $root.Values.keycloak.realm -}}
{{- $_ := set $settings "PUBLIC_KEYCLOAK_URL" (default $root.Values.keycloak.url $root.Values.keycloak.publicUrl) -}}
{{- range $service := list "census" "grid" "cases" "notify" -}}
{{- $_ := set $settings (printf "%s_TARGET" (upper $service)) (include "shequ.target" (dict "root" $root "package" $service)) -}}
{{- end -}}
{{- else -}}
{{- $_ := set $settings "GRPC_HOST" "0.0.0.0" -}}
{{- $_ := set $settings "GRPC_PORT" (toString $spec.grpcPort) -}}
{{- $_ := set $settings "KEYCLOAK_ISSUER" (printf "%s/realms/%s" (trimSuffix "/" $root.Values.keycloak.url) $root.Values.keycloak.realm) -}}
{{- end -}}
{{- if eq .package "grid" -}}
{{- $_ := set $settings "CENSUS_TARGET" (include "shequ.target" (dict "root" $root "package" "census")) -}}
{{- end -}}
{{- if eq .package "cases" -}}
{{- $_ := set $settings "GRID_TARGET" (include "shequ.target" (dict "root" $root "package" "grid")) -}}
{{- end -}}
{{- if eq .package "notify" -}}
{{- $_ := set $settings "CENSUS_TARGET" (include "shequ.target" (dict "root" $root "package" "census")) -}}
{{- $_ := set $settings "GRID_TARGET" (include "shequ.target" (dict "root" $root "package" "grid")) -}}
{{- end -}}
{{- range $name, $value := $spec.config -}}
{{- $_ := set $settings $name (toString $value) -}}
{{- end -}}
{{- toYaml $settings -}}
{{- end -}}

{{/* Secret settings: only references to Secrets, never values. */}}
{{- define "shequ.secretEnv" -}}
{{- $spec := index .root.Values.services .package -}}
{{- $prefix := upper .package -}}
- name: {{ $prefix }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "shequ.databaseSecretRef" . | nindent 6 }}
{{- range $name, $key := $spec.secretEnv }}
- name: {{ $prefix }}_{{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.secrets.existingSecret is required" $.package) $spec.secrets.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{- define "shequ.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "shequ.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
