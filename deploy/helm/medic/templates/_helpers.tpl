{{- define "medic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medic.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "medic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "medic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: medic
{{- end -}}

{{/* Selector labels of one component: include "medic.selector" (list . "worker") */}}
{{- define "medic.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "medic.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "medic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "medic.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "medic.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The environment every medic process gets besides the ConfigMap: paths the chart owns,
Temporal, and the secrets by reference: include "medic.env" (dict "root" . "secrets" LIST), LIST
the variables of secrets.keys this process reads, or "all". */}}
{{- define "medic.env" -}}
{{- $root := .root -}}
{{- $only := .secrets -}}
- name: MEDIC_HOME
  value: /var/lib/medic
- name: MEDIC_GITOPS_WORKDIR
  value: /var/cache/medic/gitops
- name: HOME
  value: /home/medic
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" $root.Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ $root.Values.temporal.namespace | quote }}
- name: MEDIC_TASK_QUEUE
  value: {{ $root.Values.temporal.taskQueue | quote }}
{{- with $root.Values.temporal.uiUrl }}
- name: MEDIC_TEMPORAL_UI_URL
  value: {{ . | quote }}
{{- end }}
{{- $tls := $root.Values.temporal.tls }}
{{- if or $tls.enabled $root.Values.temporal.apiKey.secretName }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- if $tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ $tls.serverName | quote }}
{{- end }}
{{- if and $tls.enabled $tls.secretName }}
{{- if $tls.caKey }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/medic/temporal-tls/{{ $tls.caKey }}
{{- end }}
{{- if and $tls.certKey $tls.keyKey }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/medic/temporal-tls/{{ $tls.certKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/medic/temporal-tls/{{ $tls.keyKey }}
{{- end }}
{{- end }}
{{- with $root.Values.temporal.apiKey.secretName }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $root.Values.temporal.apiKey.key }}
{{- end }}
{{- if $root.Values.console.usersSecret.name }}
- name: MEDIC_CONSOLE_USERS_FILE
  value: /etc/medic/console/{{ $root.Values.console.usersSecret.key }}
{{- end }}
{{- if $root.Values.slack.usersSecret.name }}
- name: MEDIC_SLACK_USERS_FILE
  value: /etc/medic/slack/{{ $root.Values.slack.usersSecret.key }}
{{- end }}
{{- $secrets := $root.Values.secrets }}
{{- range $env := keys $secrets.keys | sortAlpha }}
{{- $ref := index $secrets.keys $env }}
{{- if and $ref (or (kindIs "string" $only) (has $env $only)) }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      {{- if contains "/" $ref }}
      name: {{ index (splitList "/" $ref) 0 }}
      key: {{ index (splitList "/" $ref) 1 }}
      {{- else }}
      name: {{ required "secrets.name: the Secret holding medic's secrets (README \"Install in a cluster\")" $secrets.name }}
      key: {{ $ref }}
      {{- end }}
      {{- if not (has $env $secrets.required) }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The policy, drift and GitOps repositories mounts' env (worker, doctor, schedules). */}}
{{- define "medic.configEnv" -}}
- name: MEDIC_POLICY_DIR
  value: /etc/medic/policy
{{- if .Values.drift.enabled }}
- name: MEDIC_DRIFT_CONFIG
  value: /etc/medic/drift/drift.yaml
{{- end }}
{{- if .Values.gitopsRepositories }}
- name: MEDIC_GITOPS_REPOSITORIES_FILE
  value: /etc/medic/gitops/repositories.yaml
{{- end }}
{{- end -}}

{{- define "medic.workdirMounts" -}}
- name: home
  mountPath: /var/lib/medic
- name: gitops
  mountPath: /var/cache/medic
- name: user-home
  mountPath: /home/medic
- name: tmp
  mountPath: /tmp
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.secretName }}
- name: temporal-tls
  mountPath: /etc/medic/temporal-tls
  readOnly: true
{{- end }}
{{- if .Values.console.usersSecret.name }}
- name: console-users
  mountPath: /etc/medic/console
  readOnly: true
{{- end }}
{{- if .Values.slack.usersSecret.name }}
- name: slack-users
  mountPath: /etc/medic/slack
  readOnly: true
{{- end }}
{{- end -}}

{{- define "medic.workdirVolumes" -}}
{{- range $name := list "home" "gitops" "user-home" "tmp" }}
- name: {{ $name }}
  emptyDir:
    sizeLimit: {{ $.Values.workdirs.sizeLimit }}
{{- end }}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.secretName }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if .Values.console.usersSecret.name }}
- name: console-users
  secret:
    secretName: {{ .Values.console.usersSecret.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.console.usersSecret.key }}
        path: {{ .Values.console.usersSecret.key }}
{{- end }}
{{- if .Values.slack.usersSecret.name }}
- name: slack-users
  secret:
    secretName: {{ .Values.slack.usersSecret.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.slack.usersSecret.key }}
        path: {{ .Values.slack.usersSecret.key }}
{{- end }}
{{- end -}}

{{- define "medic.configMounts" -}}
- name: policy
  mountPath: /etc/medic/policy
  readOnly: true
{{- if .Values.drift.enabled }}
- name: drift
  mountPath: /etc/medic/drift
  readOnly: true
{{- end }}
{{- if .Values.gitopsRepositories }}
- name: gitops-repositories
  mountPath: /etc/medic/gitops
  readOnly: true
{{- end }}
{{- end -}}

{{- define "medic.configVolumes" -}}
- name: policy
  configMap:
    name: {{ include "medic.fullname" . }}-policy
{{- if .Values.drift.enabled }}
- name: drift
  configMap:
    name: {{ include "medic.fullname" . }}-drift
{{- end }}
{{- if .Values.gitopsRepositories }}
- name: gitops-repositories
  configMap:
    name: {{ include "medic.fullname" . }}-gitops-repositories
{{- end }}
{{- end -}}

{{/* The ConfigMap's checksum, so that a change of configuration rolls the pods. */}}
{{- define "medic.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/policy: {{ include (print .Template.BasePath "/policy-configmap.yaml") . | sha256sum }}
{{- end -}}

{{- define "medic.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
