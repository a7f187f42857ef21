{{/* Names and labels. */}}
{{- define "whoknows.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "whoknows.fullname" -}}
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

{{- define "whoknows.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "whoknows.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "whoknows.selectorLabels" -}}
app.kubernetes.io/name: {{ include "whoknows.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "whoknows.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "whoknows.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "whoknows.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The required Secrets, with a message naming the value to set. */}}
{{- define "whoknows.databaseSecret" -}}
{{- required "database.existingSecret is required: name the Secret holding the PostgreSQL URL (key database.urlKey)" .Values.database.existingSecret }}
{{- end }}

{{- define "whoknows.signingKeySecret" -}}
{{- required "api.signingKey.existingSecret is required: name the Secret holding the RS256 signing key (PEM)" .Values.api.signingKey.existingSecret }}
{{- end }}

{{- define "whoknows.webSecret" -}}
{{- required "web.existingSecret is required with web.oidcMetadataUrl: name the Secret holding the session-cookie signing key (key web.sessionSecretKey)" .Values.web.existingSecret }}
{{- end }}

{{/* The intranet page's sign-in, for the API pods only: the [web] keys as WHOKNOWS_WEB_*,
the secrets in variables named outside the WHOKNOWS_ prefixes (WHOKNOWS_WEB_<X> would be
read as a [web] key), which client_secret_env and session_secret_env name. */}}
{{- define "whoknows.webEnv" -}}
{{- with .Values.web }}
{{- if .oidcMetadataUrl }}
- name: WHOKNOWS_WEB_OIDC_METADATA_URL
  value: {{ .oidcMetadataUrl | quote }}
- name: WHOKNOWS_WEB_CLIENT_ID
  value: {{ required "web.clientId is required with web.oidcMetadataUrl" .clientId | quote }}
- name: WHOKNOWS_WEB_SCOPES
  value: {{ .scopes | quote }}
- name: WHOKNOWS_WEB_SESSION_MINUTES
  value: {{ int .sessionMinutes | quote }}
- name: WHOKNOWS_WEB_SECURE_COOKIES
  value: {{ .secureCookies | quote }}
- name: WHOKNOWS_WEB_SESSION_SECRET_ENV
  value: WEB_SESSION_SECRET
- name: WEB_SESSION_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "whoknows.webSecret" $ }}
      key: {{ .sessionSecretKey }}
{{- if .clientSecretKey }}
- name: WHOKNOWS_WEB_CLIENT_SECRET_ENV
  value: WEB_OIDC_CLIENT_SECRET
- name: WEB_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "whoknows.webSecret" $ }}
      key: {{ .clientSecretKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether sync jobs go through a Redis (non-empty: yes): the chart's own or an external
one. Then worker pods run them and the scheduler enqueues the scheduled ones. */}}
{{- define "whoknows.redis" -}}
{{- if or .Values.redis.enabled .Values.redis.url .Values.redis.existingSecret }}true{{ end }}
{{- end }}

{{- define "whoknows.redisName" -}}
{{- printf "%s-redis" (include "whoknows.fullname" . | trunc 57 | trimSuffix "-") }}
{{- end }}

{{/* The API's public base URL (the issuer of its tokens). */}}
{{- define "whoknows.issuer" -}}
{{- if .Values.api.issuer }}
{{- .Values.api.issuer }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (first .Values.ingress.hosts) }}
{{- else }}
{{- printf "http://%s" (include "whoknows.fullname" .) }}
{{- end }}
{{- end }}

{{/* whoknows.toml. The database URL and the cluster credentials come from Secrets through
the environment (the credentials' variables must not start with WHOKNOWS_SEARCH_: those
override [search] keys); `config` is merged over the rest; numbers Helm holds as floats are
written back as integers. */}}
{{- define "whoknows.toml" -}}
{{- $api := dict "issuer" (include "whoknows.issuer" .) "resource" .Values.api.resource "signing_key_file" (printf "/etc/whoknows/keys/%s" .Values.api.signingKey.key) "token_lifetime_seconds" .Values.api.tokenLifetimeSeconds "rate_limit_per_minute" .Values.api.rateLimitPerMinute "external_issuers" .Values.api.externalIssuers }}
{{- $search := dict "engine" "elasticsearch" "flavor" .Values.search.flavor "url" .Values.search.url "index_prefix" .Values.search.indexPrefix "timeout_seconds" .Values.search.timeoutSeconds }}
{{- if .Values.search.existingSecret }}
{{- $_ := set $search "username_env" "SEARCH_CLUSTER_USER" }}
{{- $_ := set $search "password_env" "SEARCH_CLUSTER_PASSWORD" }}
{{- end }}
{{- $reputation := deepCopy .Values.reputation }}
{{- if .Values.synonyms }}
{{- $_ := set $reputation "synonyms" "/etc/whoknows/synonyms.toml" }}
{{- end }}
{{- $jobs := dict "queue" .Values.jobs.queue "lease_seconds" .Values.jobs.leaseSeconds "max_attempts" .Values.jobs.maxAttempts "scheduler_tick_seconds" .Values.scheduler.tickSeconds }}
{{- /* without a Redis the schedules are CronJobs: the API pods must not run them too */}}
{{- $sources := list }}
{{- range .Values.sources }}
{{- if include "whoknows.redis" $ }}
{{- $sources = append $sources . }}
{{- else }}
{{- $sources = append $sources (omit . "schedule" "full_every_days") }}
{{- end }}
{{- end }}
{{- $config := dict "api" $api "search" $search "reputation" $reputation "jobs" $jobs "sources" $sources }}
{{- $config = mergeOverwrite $config (deepCopy .Values.config) }}
{{- regexReplaceAll "(?m)^(\\s*[A-Za-z0-9_\"-]+ = -?[0-9]+)\\.0$" (toToml $config) "${1}" }}
{{- end }}

{{/* The environment every whoknows container gets. */}}
{{- define "whoknows.env" -}}
- name: WHOKNOWS_CONFIG
  value: /etc/whoknows/whoknows.toml
- name: WHOKNOWS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "whoknows.databaseSecret" . }}
      key: {{ .Values.database.urlKey }}
{{- if .Values.search.existingSecret }}
- name: SEARCH_CLUSTER_USER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.search.existingSecret }}
      key: {{ .Values.search.usernameKey }}
- name: SEARCH_CLUSTER_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.search.existingSecret }}
      key: {{ .Values.search.passwordKey }}
{{- end }}
{{- if .Values.redis.existingSecret }}
- name: WHOKNOWS_JOBS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
{{- else if .Values.redis.url }}
- name: WHOKNOWS_JOBS_REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- else if .Values.redis.enabled }}
- name: WHOKNOWS_JOBS_REDIS_URL
  value: {{ printf "redis://%s:6379/0" (include "whoknows.redisName" .) | quote }}
{{- end }}
- name: WHOKNOWS_LOG_FORMAT
  value: json
- name: WHOKNOWS_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "whoknows.envFrom" -}}
{{- with .Values.sourceCredentials.existingSecret -}}
envFrom:
  - secretRef:
      name: {{ . }}
{{- end }}
{{- end }}

{{/* Volumes: the configuration, a writable /tmp (the root filesystem is read-only). */}}
{{- define "whoknows.volumes" -}}
- name: config
  configMap:
    name: {{ include "whoknows.fullname" . }}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "whoknows.volumeMounts" -}}
- name: config
  mountPath: /etc/whoknows/whoknows.toml
  subPath: whoknows.toml
  readOnly: true
{{- if .Values.synonyms }}
- name: config
  mountPath: /etc/whoknows/synonyms.toml
  subPath: synonyms.toml
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "whoknows.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A Job's pod running one whoknows command: the sync CronJobs and the reindex Job.
Call with (dict "root" $ "args" (list ...) "component" "sync" "resources" ... "grace" N). */}}
{{- define "whoknows.jobPod" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "whoknows.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "whoknows.serviceAccountName" $root }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ .grace | default 30 }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: whoknows
      image: {{ include "whoknows.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: [whoknows]
      args:
        {{- toYaml .args | nindent 8 }}
      env:
        {{- include "whoknows.env" $root | nindent 8 }}
      {{- include "whoknows.envFrom" $root | nindent 6 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      volumeMounts:
        {{- include "whoknows.volumeMounts" $root | nindent 8 }}
  volumes:
    {{- include "whoknows.volumes" $root | nindent 4 }}
  {{- include "whoknows.scheduling" $root | nindent 2 }}
{{- end }}

{{/* A Deployment running one long-lived whoknows command (the workers, the scheduler),
its health endpoint on port 8081 probed. Call with (dict "root" $ "component" "worker"
"replicas" N "args" (list ...) "resources" ... "grace" N). */}}
{{- define "whoknows.jobsDeployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ printf "%s-%s" (include "whoknows.fullname" $root | trunc 52 | trimSuffix "-") .component }}
  labels:
    {{- include "whoknows.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ .replicas }}
  selector:
    matchLabels:
      {{- include "whoknows.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include "whoknows.toml" $root | cat $root.Values.synonyms | sha256sum }}
      labels:
        {{- include "whoknows.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
    spec:
      serviceAccountName: {{ include "whoknows.serviceAccountName" $root }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ .grace }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "whoknows.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [whoknows]
          args:
            {{- toYaml .args | nindent 12 }}
          ports:
            - name: health
              containerPort: 8081
              protocol: TCP
          env:
            {{- include "whoknows.env" $root | nindent 12 }}
          {{- include "whoknows.envFrom" $root | nindent 10 }}
          # alive while its loop goes round (it reaches the database and Redis each time)
          livenessProbe:
            httpGet: {path: /healthz, port: health}
            periodSeconds: 30
            timeoutSeconds: 5
            failureThreshold: 3
          startupProbe:
            httpGet: {path: /healthz, port: health}
            periodSeconds: 2
            failureThreshold: 60
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          volumeMounts:
            {{- include "whoknows.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "whoknows.volumes" $root | nindent 8 }}
      {{- include "whoknows.scheduling" $root | nindent 6 }}
{{- end }}
