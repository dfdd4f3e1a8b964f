{{/* Names and labels. */}}
{{- define "sonde.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sonde.fullname" -}}
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

{{- define "sonde.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sonde.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end -}}

{{- define "sonde.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sonde.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sonde
{{- end -}}

{{- define "sonde.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sonde.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sonde.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Checks that fail the rendering with a message naming the value. */}}
{{- define "sonde.validate" -}}
{{- if not (has .Values.mode (list "daemonset" "gateway")) -}}
{{- fail (printf "mode: want daemonset or gateway, got %q" .Values.mode) -}}
{{- end -}}
{{- if and (eq .Values.mode "gateway") (not .Values.otlp.endpoint) (not .Values.config.content) -}}
{{- fail "mode gateway forwards OTLP: set otlp.endpoint (e.g. tempo.monitoring.svc:4317)" -}}
{{- end -}}
{{- if not (has .Values.otlp.protocol (list "grpc" "http/protobuf")) -}}
{{- fail (printf "otlp.protocol: want grpc or http/protobuf, got %q" (toString .Values.otlp.protocol)) -}}
{{- end -}}
{{- if not (has .Values.jobNames (list "prometheus" "alloy")) -}}
{{- fail (printf "jobNames: want prometheus or alloy, got %q" (toString .Values.jobNames)) -}}
{{- end -}}
{{- if not (has .Values.serviceMonitor.scrape (list "self" "collected")) -}}
{{- fail (printf "serviceMonitor.scrape: want self or collected, got %q" (toString .Values.serviceMonitor.scrape)) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (eq .Values.serviceMonitor.scrape "collected") (not .Values.config.content) -}}
{{- if .Values.prometheus.url -}}
{{- fail "serviceMonitor.scrape: collected is served for pull only without prometheus.url (with it, the collected data is remote-written)" -}}
{{- end -}}
{{- if ne .Values.mode "daemonset" -}}
{{- fail "serviceMonitor.scrape: collected needs mode daemonset (the gateway forwards OTLP and serves no collected data)" -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.daemonset.hostRootMountPropagation (list "None" "HostToContainer")) -}}
{{- fail (printf "daemonset.hostRootMountPropagation: want None or HostToContainer (Bidirectional needs a privileged container), got %q" (toString .Values.daemonset.hostRootMountPropagation)) -}}
{{- end -}}
{{- range $name, $b := dict "prometheus" .Values.prometheus "loki" .Values.loki -}}
{{- if and $b.basicAuth.existingSecret $b.bearerToken.existingSecret -}}
{{- fail (printf "%s: set basicAuth.existingSecret or bearerToken.existingSecret, not both" $name) -}}
{{- end -}}
{{- if and (or $b.basicAuth.existingSecret $b.bearerToken.existingSecret $b.headers) (not $b.url) (not $.Values.config.content) -}}
{{- fail (printf "%s: credentials or headers are given but %s.url is empty" $name $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A backend URL as sonde's --prometheus-url / --loki-url read it (config.RemoteWriteURL,
config.LokiPushURL): a bare address gets the default path. Argument: list URL PATH VALUE.
*/}}
{{- define "sonde.backendURL" -}}
{{- $raw := index . 0 -}}
{{- $path := index . 1 -}}
{{- $what := index . 2 -}}
{{- if $raw -}}
{{- $u := urlParse $raw -}}
{{- if or (not (has $u.scheme (list "http" "https"))) (not $u.host) -}}
{{- fail (printf "%s: %q: want an absolute http(s) URL" $what $raw) -}}
{{- end -}}
{{- if or (eq $u.path "") (eq $u.path "/") -}}
{{- $_ := set $u "path" $path -}}
{{- end -}}
{{- urlJoin $u -}}
{{- end -}}
{{- end -}}

{{- define "sonde.presetName" -}}
{{- default (ternary "daemonset" "sidecar" (eq .Values.mode "daemonset")) .Values.config.preset -}}
{{- end -}}

{{/* The OTLP endpoint as sonde's --otlp-endpoint reads it (config.OTLPEndpoint): host:port
means plain-text gRPC, http://host:port. */}}
{{- define "sonde.otlpEndpoint" -}}
{{- if . -}}
{{- $raw := ternary . (printf "http://%s" .) (contains "://" .) -}}
{{- $u := urlParse $raw -}}
{{- if or (not (has $u.scheme (list "http" "https"))) (not $u.host) -}}
{{- fail (printf "otlp.endpoint: %q: want host:port or an http(s) URL such as tempo:4317" .) -}}
{{- end -}}
{{- urlJoin $u -}}
{{- end -}}
{{- end -}}

{{/*
The built-in preset exactly as `sonde config show --preset NAME` prints it for these values.
files/presets/NAME/INPUTS.yaml is that output for each combination of the inputs that shape
it (INPUTS: the given ones of prometheus, loki, static, otlp — otlphttp with otlp.protocol
http/protobuf —, joined by "-"; "none"), rendered by
sonde itself with placeholder values that are replaced here. `make manifests` regenerates
them; deploy/deploytest checks that they are current and that the chart's output equals
`sonde config show`.
*/}}
{{- define "sonde.presetYAML" -}}
{{- $name := include "sonde.presetName" . -}}
{{- $prom := include "sonde.backendURL" (list .Values.prometheus.url "/api/v1/write" "prometheus.url") -}}
{{- $loki := include "sonde.backendURL" (list .Values.loki.url "/loki/api/v1/push" "loki.url") -}}
{{- $inputs := list -}}
{{- if $prom -}}{{- $inputs = append $inputs "prometheus" -}}{{- end -}}
{{- if $loki -}}{{- $inputs = append $inputs "loki" -}}{{- end -}}
{{- if .Values.staticTargets -}}{{- $inputs = append $inputs "static" -}}{{- end -}}
{{- $otlp := include "sonde.otlpEndpoint" .Values.otlp.endpoint -}}
{{- if $otlp -}}{{- $inputs = append $inputs (ternary "otlphttp" "otlp" (eq .Values.otlp.protocol "http/protobuf")) -}}{{- end -}}
{{- $known := list -}}
{{- range $path, $_ := .Files.Glob "files/presets/*/*.yaml" -}}
{{- $known = append $known (base (dir $path)) | uniq -}}
{{- end -}}
{{- if not (has $name $known) -}}
{{- fail (printf "config.preset: the chart knows the presets %s, not %q" (join ", " $known) $name) -}}
{{- end -}}
{{- $text := .Files.Get (printf "files/presets/%s/%s.yaml" $name (join "-" $inputs | default "none")) -}}
{{- if not $text -}}
{{- fail (printf "config.preset: the preset %s needs otlp.endpoint" $name) -}}
{{- end -}}
{{- $text = replace "http://sonde-prometheus-url.invalid/placeholder" $prom $text -}}
{{- $text = replace "http://sonde-loki-url.invalid/placeholder" $loki $text -}}
{{- $text = replace "sonde-static-targets.invalid:1" (join ", " .Values.staticTargets) $text -}}
{{- $text = replace "http://sonde-otlp-endpoint.invalid:4317" $otlp $text -}}
{{- if eq .Values.mode "daemonset" -}}
{{/* discovery.shard counts the pods its selector matches as the agents sharing the
cluster-wide targets: exactly this release's DaemonSet pods (not a gateway of the same
name, not another release in the namespace). */}}
{{- $sel := list -}}
{{- range $k, $v := include "sonde.selectorLabels" . | fromYaml -}}
{{- $sel = append $sel (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- $line := printf "\n    # This release's DaemonSet pods (the chart's selector labels).\n    selector: %s\n" (join "," $sel) -}}
{{- $text = regexReplaceAll "(?m)^(  discovery\\.shard/[^:\\s]+:)\\n" $text (printf "${1}%s" $line) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/* Deep merge of .src into the map .dst: maps merge, everything else replaces. */}}
{{- define "sonde.merge" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "sonde.merge" (dict "dst" (get $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k (deepCopy $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* What the chart's own values add to the preset's components: headers and credentials. */}}
{{- define "sonde.valueOverrides" -}}
{{- $c := dict -}}
{{- with .Values.prometheus -}}
{{- if .url -}}
{{- $ep := dict -}}
{{- if .headers -}}{{- $_ := set $ep "headers" .headers -}}{{- end -}}
{{- if .basicAuth.existingSecret -}}
{{- $_ := set $ep "basic_auth" (dict "username" "${SONDE_PROMETHEUS_USERNAME}" "password" "${SONDE_PROMETHEUS_PASSWORD}") -}}
{{- end -}}
{{- if .bearerToken.existingSecret -}}
{{- $_ := set $ep "authorization" (dict "type" "Bearer" "credentials" "${SONDE_PROMETHEUS_BEARER_TOKEN}") -}}
{{- end -}}
{{- if $ep -}}{{- $_ := set $c "prometheus.remote_write/default" (dict "endpoint" $ep) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- with .Values.loki -}}
{{- if and .url (or .tenantID .headers .basicAuth.existingSecret .bearerToken.existingSecret) -}}
{{/* endpoints is a list: the chart writes the whole entry. */}}
{{- $ep := dict "url" (include "sonde.backendURL" (list .url "/loki/api/v1/push" "loki.url")) -}}
{{- if .tenantID -}}{{- $_ := set $ep "tenant_id" .tenantID -}}{{- end -}}
{{- if .headers -}}{{- $_ := set $ep "headers" .headers -}}{{- end -}}
{{- if .basicAuth.existingSecret -}}
{{- $_ := set $ep "basic_auth" (dict "username" "${SONDE_LOKI_USERNAME}" "password" "${SONDE_LOKI_PASSWORD}") -}}
{{- end -}}
{{- if .bearerToken.existingSecret -}}
{{- $_ := set $ep "authorization" (dict "type" "Bearer" "credentials" "${SONDE_LOKI_BEARER_TOKEN}") -}}
{{- end -}}
{{- $_ := set $c "loki.write/default" (dict "endpoints" (list $ep)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* sonde's configuration file. */}}
{{- define "sonde.config" -}}
{{- $content := .Values.config.content -}}
{{- if $content -}}
{{- if kindIs "string" $content -}}{{- $content -}}{{- else -}}{{- toYaml $content -}}{{- end -}}
{{- else -}}
{{- $preset := include "sonde.presetYAML" . -}}
{{- $chart := include "sonde.valueOverrides" . | fromYaml -}}
{{- if and (not $chart) (not .Values.config.overrides) (not .Values.config.remove) -}}
{{- $preset -}}
{{- else -}}
{{- $cfg := fromYaml $preset -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "preset %s: %s" (include "sonde.presetName" .) $cfg.Error) -}}
{{- end -}}
{{- $components := $cfg.components -}}
{{- include "sonde.merge" (dict "dst" $components "src" $chart) -}}
{{- include "sonde.merge" (dict "dst" $components "src" .Values.config.overrides) -}}
{{- range .Values.config.remove -}}
{{- if not (hasKey $components .) -}}
{{- fail (printf "config.remove: the preset has no component %q" .) -}}
{{- end -}}
{{- $_ := unset $components . -}}
{{- end -}}
{{/* References to removed components go too. */}}
{{- range $id, $args := $components -}}
{{- if kindIs "map" $args -}}
{{- range $field := list "targets" "forward_to" -}}
{{- $refs := get $args $field -}}
{{- if kindIs "slice" $refs -}}
{{- range $.Values.config.remove -}}
{{- $refs = without $refs . -}}
{{- end -}}
{{- $_ := set $args $field $refs -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
# Rendered by the sonde chart: the preset {{ include "sonde.presetName" . | quote }} (sonde config show --preset)
# with the chart's credentials, config.overrides and config.remove applied.
{{ toYaml $cfg }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Environment variables holding backend credentials, read from existing Secrets. */}}
{{- define "sonde.credentialEnv" -}}
{{- range $name, $b := dict "PROMETHEUS" .Values.prometheus "LOKI" .Values.loki -}}
{{- with $b.basicAuth -}}
{{- if .existingSecret }}
- name: SONDE_{{ $name }}_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .usernameKey }}
- name: SONDE_{{ $name }}_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .passwordKey }}
{{- end -}}
{{- end -}}
{{- with $b.bearerToken -}}
{{- if .existingSecret }}
- name: SONDE_{{ $name }}_BEARER_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The sonde container, shared by the DaemonSet and the gateway Deployment. */}}
{{- define "sonde.container" -}}
{{- $ds := eq .Values.mode "daemonset" -}}
- name: sonde
  image: {{ include "sonde.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - run
    - --config=/etc/sonde/config.yaml
    - --storage.path=/var/lib/sonde
    - --server.listen=0.0.0.0:{{ .Values.server.port }}
    - --log.level={{ .Values.logLevel }}
    - --log.format={{ .Values.logFormat }}
    {{- with .Values.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  # extraEnv entries replace the chart's variables of the same name: a name twice in a
  # container's env makes later upgrades fail ("The order in patch list … doesn't match
  # $setElementOrder list", found on the real node).
  env:
    {{- $override := dict }}
    {{- range .Values.extraEnv }}
    {{- $_ := set $override .name true }}
    {{- end }}
    {{- range include "sonde.baseEnv" . | fromYamlArray }}
    {{- if not (hasKey $override .name) }}
    - {{ toYaml . | indent 6 | trim }}
    {{- end }}
    {{- end }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: http
      containerPort: {{ .Values.server.port }}
      protocol: TCP
    - name: otlp-grpc
      containerPort: {{ .Values.service.otlpGrpcPort }}
      protocol: TCP
    - name: otlp-http
      containerPort: {{ .Values.service.otlpHttpPort }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /-/healthy
      port: http
    periodSeconds: 15
    timeoutSeconds: 5
    failureThreshold: 4
  # An unready agent loses its share of the cluster-wide targets (discovery.shard) within
  # 20 s, so that another agent scrapes them.
  readinessProbe:
    httpGet:
      path: /-/ready
      port: http
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 2
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml (ternary .Values.daemonset.securityContext .Values.gateway.securityContext $ds) | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/sonde
      readOnly: true
    - name: storage
      mountPath: /var/lib/sonde
    {{- if $ds }}
    {{- with .Values.daemonset.hostPaths }}
    - name: proc
      mountPath: /host/proc
      readOnly: true
    - name: sys
      mountPath: /host/sys
      readOnly: true
    - name: root
      mountPath: /host/root
      readOnly: true
      mountPropagation: {{ $.Values.daemonset.hostRootMountPropagation }}
    - name: logs
      mountPath: /var/log
      readOnly: true
    - name: pod-resources
      mountPath: /var/lib/kubelet/pod-resources
      readOnly: true
    {{- if .dockerContainers }}
    - name: docker-containers
      mountPath: {{ .dockerContainers }}
      readOnly: true
    {{- end }}
    {{- end }}
    {{- end }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
sonde.shutdownTimeout: the agent's shutdown budget, inside the pod's grace period
(terminationGracePeriodSeconds - 5 s unless shutdownTimeout is set; at least 1 s).
*/}}
{{- define "sonde.shutdownTimeout" -}}
{{- $grace := int .Values.terminationGracePeriodSeconds -}}
{{- if .Values.shutdownTimeout -}}
{{- $d := .Values.shutdownTimeout | toString -}}
{{- if not (regexMatch "^[0-9]+s$" $d) -}}
{{- fail (printf "shutdownTimeout %q: give whole seconds, e.g. \"20s\"" $d) -}}
{{- end -}}
{{- if ge (int (trimSuffix "s" $d)) $grace -}}
{{- fail (printf "shutdownTimeout %s must be shorter than terminationGracePeriodSeconds (%d): the kubelet would kill sonde mid-flush" $d $grace) -}}
{{- end -}}
{{- $d -}}
{{- else -}}
{{- max 1 (sub $grace 5) -}}s
{{- end -}}
{{- end -}}

{{/* The container's environment the chart sets (a YAML list); see sonde.container's env. */}}
{{- define "sonde.baseEnv" -}}
{{- $ds := eq .Values.mode "daemonset" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: NODE_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- with .Values.prometheus.url }}
- name: SONDE_PROMETHEUS_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.loki.url }}
- name: SONDE_LOKI_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.otlp.endpoint }}
- name: SONDE_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: SONDE_OTLP_PROTOCOL
  value: {{ $.Values.otlp.protocol | quote }}
{{- end }}
- name: SONDE_SHUTDOWN_TIMEOUT
  value: {{ include "sonde.shutdownTimeout" . | quote }}
# The presets' OTLP receiver, on every address of the pod (the sidecar preset alone
# would listen on 127.0.0.1).
- name: SONDE_OTLP_GRPC_LISTEN
  value: "0.0.0.0:{{ .Values.service.otlpGrpcPort }}"
- name: SONDE_OTLP_HTTP_LISTEN
  value: "0.0.0.0:{{ .Values.service.otlpHttpPort }}"
{{- if $ds }}
# Job names of the kubelet, node_exporter and kube-state-metrics series (jobNames).
- name: SONDE_JOB_NAMES
  value: {{ .Values.jobNames | quote }}
{{- end }}
{{- if and $ds .Values.kubelet.insecureSkipVerify }}
- name: SONDE_KUBELET_INSECURE_SKIP_VERIFY
  value: "true"
{{- end }}
{{- if and $ds .Values.daemonset.gpu.visibleDevices }}
- name: NVIDIA_VISIBLE_DEVICES
  value: {{ .Values.daemonset.gpu.visibleDevices | quote }}
- name: NVIDIA_DRIVER_CAPABILITIES
  value: {{ .Values.daemonset.gpu.driverCapabilities | quote }}
{{- end }}
{{- with include "sonde.credentialEnv" . | trim }}
{{ . }}
{{- end }}
{{- end }}
