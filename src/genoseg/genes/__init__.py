"""Gene models from per-base probabilities: the decoder and what it is made of.

- `models`: what comes out (`GeneModel`) and the UTR pieces of any transcript;
- `sequence`: base codes, motifs, codon table and translation;
- `sites`: candidate donors, acceptors, starts and stops, and how they are scored (weight
  array models, convolutional site classifiers, the network's splice-site classes);
- `decoder`: the dynamic program over one locus (`StrandProgram`, `decode_locus`);
- `utr`: UTRs read outward from each CDS;
- `stream`: `GeneDecoder`, which cuts a stream of stitched tracks into loci;
- `parameters`: `GeneParameters` (gene_model.json), checked field by field on load;
- `fit`: fitting the sequence models from a reference annotation (`genoseg fit-genes`), or from
  decoded gene models;
- `adapt`: self-training on the genome being annotated (`annotate --adapt`, `genoseg adapt`).

The package imports nothing itself, so writers can use `genes.models` without torch.
"""
