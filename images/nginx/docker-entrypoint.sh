#!/bin/sh
# The official nginx entrypoint's template step: every
# $NGINX_ENVSUBST_TEMPLATE_DIR/*$NGINX_ENVSUBST_TEMPLATE_SUFFIX becomes a file
# in $NGINX_ENVSUBST_OUTPUT_DIR with only defined environment variables
# substituted (nginx's own $variables stay), then /docker-entrypoint.d/*.sh.
set -eu

if [ "${1:-}" = "nginx" ] || [ "${1:-}" = "nginx-debug" ]; then
  template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
  suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
  output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
  defined_envs=$(printf '${%s} ' $(env | cut -d= -f1))
  for template in "$template_dir"/*"$suffix"; do
    [ -f "$template" ] || continue
    output="$output_dir/$(basename "$template" "$suffix")"
    echo "$0: running envsubst on $template to $output"
    envsubst "$defined_envs" < "$template" > "$output"
  done
  for script in /docker-entrypoint.d/*.sh; do
    [ -x "$script" ] || continue
    echo "$0: running $script"
    "$script"
  done
fi
exec "$@"
