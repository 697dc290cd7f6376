#!/usr/bin/env bash
# The steps of the GitHub Action (action.yml): `install` puts imgaudit in a venv of its own,
# `audit` runs one audit that writes every report, prints annotations, fills the step summary
# and sets the outputs; it exits 0 so the SARIF upload still runs, and records imgaudit's exit
# code for the action's last step. Inputs arrive as INPUT_* variables, never spliced into code.
set -euo pipefail

venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/imgaudit-venv"
python="${PYTHON:-python3}"

install() {
    local source="${INPUT_INSTALL_FROM:-}"
    if [[ -z $source ]]; then
        source="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this from action.yml}"
    fi
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$source"
    "$venv/bin/imgaudit" version
}

audit() {
    local imgaudit="${IMGAUDIT:-$venv/bin/imgaudit}"
    local work json sarif markdown annotations code=0
    work="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/imgaudit.XXXXXX")"
    json="${INPUT_JSON_FILE:-$work/imgaudit.json}"
    sarif="${INPUT_SARIF_FILE:-}"
    markdown="${INPUT_MARKDOWN_FILE:-$work/imgaudit.md}"
    annotations="$work/annotations.txt"

    # Inputs that hold several words: split on spaces and newlines, never evaluated.
    local images=() formats=() extra=()
    read -r -d '' -a images <<<"${INPUT_IMAGE:-}" || true
    read -r -d '' -a formats <<<"${INPUT_FORMATS:-}" || true
    read -r -d '' -a extra <<<"${INPUT_ARGS:-}" || true
    if [[ ${#images[@]} -eq 0 ]]; then
        echo "::error title=imgaudit::the input 'image' is empty: name the image to audit"
        exit 2
    fi

    local args=("${images[@]}" --format table --format "json=$json"
                --format "markdown=$markdown")
    [[ -n $sarif ]] && args+=(--format "sarif=$sarif")
    [[ ${INPUT_ANNOTATIONS:-true} == true ]] && args+=(--format "github=$annotations")
    local format
    for format in "${formats[@]}"; do args+=(--format "$format"); done
    [[ -n ${INPUT_FAIL_UNDER:-} ]] && args+=(--fail-under "$INPUT_FAIL_UNDER")
    [[ -n ${INPUT_FAIL_ON:-} ]] && args+=(--fail-on "$INPUT_FAIL_ON")
    [[ -n ${INPUT_DOCKERFILE:-} ]] && args+=(--dockerfile "$INPUT_DOCKERFILE")
    [[ -n ${INPUT_CONFIG:-} ]] && args+=(--config "$INPUT_CONFIG")
    [[ -n ${INPUT_BASELINE:-} ]] && args+=(--baseline "$INPUT_BASELINE")
    args+=("${extra[@]}")

    echo "imgaudit ${args[*]}" >&2
    "$imgaudit" "${args[@]}" || code=$?

    # Workflow commands only count on stdout; the runner turns them into annotations.
    [[ -f $annotations ]] && cat "$annotations"
    if [[ ${INPUT_SUMMARY:-true} == true && -n ${GITHUB_STEP_SUMMARY:-} && -f $markdown ]]; then
        cat "$markdown" >>"$GITHUB_STEP_SUMMARY"
    fi

    # The lowest score of the images audited, and its grade.
    local score="" grade=""
    if [[ -f $json ]]; then
        read -r score grade < <("$python" -c '
import json, sys
images = json.load(open(sys.argv[1], encoding="utf-8")).get("images") or []
if images:
    worst = min(images, key=lambda image: image["score"])
    print(worst["score"], worst["grade"])
' "$json") || true
    fi
    [[ -f $sarif ]] || sarif=""
    [[ -f $markdown ]] || markdown=""
    [[ -f $json ]] || json=""
    {
        echo "exit-code=$code"
        echo "score=$score"
        echo "grade=$grade"
        echo "sarif-file=$sarif"
        echo "json-file=$json"
        echo "markdown-file=$markdown"
    } >>"${GITHUB_OUTPUT:-/dev/stdout}"
    case $code in
        0) ;;
        1) echo "imgaudit: policy failed (exit 1); score ${score:-?} grade ${grade:-?}" >&2 ;;
        *) echo "imgaudit: could not audit every image (exit $code)" >&2 ;;
    esac
}

case "${1:-}" in
    install) install ;;
    audit) audit ;;
    *) echo "usage: $0 install|audit" >&2; exit 2 ;;
esac
