# bash completion for nfrctl. Nouns, verbs and flags are read from nfrctl's own --help, so the
# completion always matches the installed binary.
_nfrctl() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  }
  local nfrctl=${words[0]}
  case "$prev" in
    -f | --file | --ca | --cert | --key)
      compgen -f -- "$cur" >/dev/null && mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return
      ;;
    -o | --output)
      mapfile -t COMPREPLY < <(compgen -W "table json" -- "$cur")
      return
      ;;
  esac
  local positional=() i w
  for ((i = 1; i < cword; i++)); do
    w=${words[i]}
    case "$w" in
      --*=*) ;;
      -o | --output | -f | --file | --target | --ca | --cert | --key | --server-name | --timeout) ((i++)) ;;
      -*) ;;
      *) positional+=("$w") ;;
    esac
  done
  local help
  if [[ "$cur" == -* ]]; then
    help=$("$nfrctl" "${positional[@]:0:2}" --help 2>/dev/null; "$nfrctl" --help 2>/dev/null)
    mapfile -t COMPREPLY < <(compgen -W "$(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sort -u)" -- "$cur")
    return
  fi
  help=$("$nfrctl" --help 2>/dev/null | sed -n '/^commands:/,/^$/p' | grep -E '^  [a-z]')
  local candidates
  case ${#positional[@]} in
    0) candidates=$(awk '{print $1}' <<<"$help" | sort -u) ;;
    1) candidates=$(awk -v n="${positional[0]}" '$1 == n && $2 ~ /^[a-z][a-z-]*$/ {print $2}' <<<"$help") ;;
    *) candidates="" ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
}
complete -F _nfrctl nfrctl
