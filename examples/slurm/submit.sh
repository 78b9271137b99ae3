#!/usr/bin/env bash
# Usage: GENOME=genome.fa.gz [OUT=genoseg_run] [MODEL=segment_nt] [SHARDS=8] bash submit.sh
# Submits the shard array and a merge job that runs only once every shard has succeeded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${GENOME:?set GENOME to the FASTA to annotate}"
export GENOME OUT=${OUT:-genoseg_run} MODEL=${MODEL:-} ANNOTATE_ARGS=${ANNOTATE_ARGS:-}
mkdir -p "$OUT"
array=$(sbatch --parsable --export=ALL --array=1-"${SHARDS:-8}" "$here/annotate_array.sbatch")
sbatch --export=ALL --dependency=afterok:"$array" "$here/merge.sbatch"
