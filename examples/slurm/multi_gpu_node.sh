#!/usr/bin/env bash
# Without a scheduler: one shard per GPU of this node, then merge.
# Usage: GENOME=genome.fa.gz [OUT=genoseg_run] bash multi_gpu_node.sh
set -euo pipefail
: "${GENOME:?set GENOME to the FASTA to annotate}"
OUT=${OUT:-genoseg_run}
gpus=$(nvidia-smi --list-gpus | wc -l)
for ((g = 0; g < gpus; g++)); do
    # Each process sees one GPU as cuda:0; --threads splits the CPU cores between them.
    CUDA_VISIBLE_DEVICES=$g genoseg annotate "$GENOME" --shard "$((g + 1))/$gpus" --resume --quiet \
        --threads $(( $(nproc) / gpus )) -o "$OUT/shards/$((g + 1))" &
done
wait
genoseg merge "$OUT"/shards/*/ -o "$OUT/merged"
