"""Variant effects: alt minus ref log-likelihood over a window centred on each variant.

For a VCF record at 1-based POS with reference allele REF and alternative ALT
on contig C of the reference genome G (0-based: the variant spans [a, b) with
a = POS - 1, b = a + len(REF)), with flank F:

    ref window  G[a - F : b + F]                           (clipped at the record's ends)
    alt window  G[a - F : a] + ALT + G[b : b + F]
    HNET_DLL    = ln p(alt window) - ln p(ref window)       (natural log; < 0: the model finds
                                                             the alternative less likely)

Each window is scored as a document of its own (BOS first, every base a target)
with `hnet eval`'s windows and forward passes, so when a window fits the context
this is exactly two plain forward passes. With both strands, HNET_DLL_RC is the
same on the reverse complements of both windows, and HNET_DLL_MEAN their mean.
Multi-allelic records get one value per ALT (Number=A).

Nothing is dropped: a record that cannot be scored is written unchanged but for
HNET_SKIP=<reason>, and counted:

    missing_contig   its contig is not in the reference
    ref_mismatch     REF differs from the reference at POS (case-insensitive), or runs past its end
    symbolic_allele  no ALT is a sequence (<DEL>, breakends, *, .); per-ALT values are '.'
                     for such alleles in records that have other, scorable ones
    no_alt           ALT is missing

VCF and reference are read through pysam (htslib): VCF, bgzipped VCF or BCF in;
VCF out (bgzip-compressed for a .vcf.gz output, through biopython's BGZF writer,
so `tabix` can index it). Records are formatted by htslib against the input's
own header (plus the INFO lines above), which keeps records with symbolic
alleles the header never declared (htslib tolerates those on input but would
refuse to re-encode them under a copied header).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hnet_cli.errors import ConfigError, InputError

_SEQUENCE = re.compile(r"^[ACGTURYSWKMBDHVN]+$")
BATCH_RECORDS = 256  # variant records scored per group of forward passes


@dataclass
class _Pending:
    record: object  # pysam VariantRecord
    skip: str | None = None
    windows: list[bytes] = field(default_factory=list)  # [ref, alt_1, ...]; None for an unscorable alt
    alt_ok: list[bool] = field(default_factory=list)


def variant_windows(reference, contig: str, pos: int, ref: str, alts, flank: int) -> tuple[str | None, list]:
    """(skip reason or None, [ref window, alt windows (None where not scorable)])."""
    if contig not in reference:
        return "missing_contig", []
    if not alts:
        return "no_alt", []
    a = pos - 1
    b = a + len(ref)
    if b > reference.lengths[contig] or reference.fetch(contig, a, b) != ref.upper().encode("ascii", "replace"):
        return "ref_mismatch", []
    left = reference.fetch(contig, a - flank, a)
    right = reference.fetch(contig, b, b + flank)
    windows = [left + ref.upper().encode("ascii") + right]
    for alt in alts:
        alt = (alt or "").upper()
        windows.append(left + alt.encode("ascii") + right if _SEQUENCE.match(alt) else None)
    if all(w is None for w in windows[1:]):
        return "symbolic_allele", []
    return None, windows


def _compressed(path: str) -> bool:
    name = path.lower()
    if name.endswith(".bcf"):
        raise ConfigError(f"{path}: BCF output is not written; write .vcf or .vcf.gz (bgzip), or pipe the VCF "
                          f"through `bcftools view -Ob`")
    return name.endswith((".gz", ".bgz"))


class _BgzfText:
    """Text into BGZF blocks (biopython's writer) on a stream that the caller closes."""

    class _Unclosable:
        def __init__(self, stream):
            self.write, self.flush = stream.write, stream.flush

        def close(self) -> None:
            pass

    def __init__(self, stream):
        from Bio.bgzf import BgzfWriter

        self._writer = BgzfWriter(fileobj=self._Unclosable(stream))

    def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))  # VCF 4.3 allows UTF-8; biopython would encode latin-1

    def close(self) -> None:
        self._writer.close()


def run_variant_scoring(request, reporter=None, model=None):
    """`hnet score --variants`: see the module docstring. Returns a ScoreResult."""
    from hnet_cli.outputs import check_output, open_output
    from hnet_cli.progress import NullReporter
    from hnet_cli.run import resolve
    from hnet_cli.runtime import pick_device, pick_dtype
    from hnet_cli.score.reference import ReferenceGenome, quiet_htslib, require_pysam
    from hnet_cli.score.request import ScoreResult, resolve_format, window_settings

    pysam = require_pysam()
    resolve_format(request.format, request.output, variants=True)
    check_output(request.output)  # a bad destination fails now, not after the scoring
    _check_request(request)
    found = resolve(request.model, config=request.config)
    context, stride, notes = window_settings(found, request.context, request.stride)
    reference = ReferenceGenome(request.reference)
    try:
        with quiet_htslib():
            vcf_in = pysam.VariantFile(request.variants)
    except (OSError, ValueError) as exc:
        raise InputError(request.variants, f"not a readable VCF/BCF ({exc})") from None
    device = pick_device(request.device)
    dtype = pick_dtype(request.dtype, device)
    if model is None:
        model = found.load(device)
    reporter = reporter or NullReporter()
    header = vcf_in.header  # extended in place: records read from here on carry the new INFO keys
    scorer = _VariantScorer(model, _declare_info(header, request), strands=2 if request.both_strands else 1,
                            context=context, stride=stride, batch_size=request.batch_size, device=device, dtype=dtype)
    reporter.start("scoring variants", unit="records")
    try:
        compress = request.output != "-" and _compressed(request.output)
        with open_output(request.output, "wb" if compress else "w") as out:
            sink = _BgzfText(out) if compress else out
            sink.write(str(header))
            _score_records(vcf_in, reference, request, scorer, sink, reporter)
            if compress:
                sink.close()  # the BGZF end-of-file block; `out` stays open for open_output to finish
    finally:
        vcf_in.close()
        reference.close()
        reporter.finish()
    summary = {"model": str(request.model), "format": "vcf", "output": request.output, "variants": request.variants,
               "reference": request.reference, "reference_indexed": reference.indexed, "flank": request.flank,
               "both_strands": request.both_strands, "context": context, "stride": stride, **scorer.counts,
               "flagged": scorer.flagged, "notes": notes}
    return ScoreResult(summary)


def _check_request(request) -> None:
    if request.reference is None:
        raise ConfigError("--variants needs --reference REF.fa: the genome the VCF was called against")
    if request.paths or request.region or request.regions:
        raise ConfigError("--variants scores the VCF's records; FILES, --region and --regions do not apply")
    if request.flank < 0:
        raise ConfigError(f"--flank {request.flank}: must be 0 or more bases")
    if request.variants != "-" and not os.path.exists(request.variants):
        raise InputError(request.variants, "VCF not found")


def _declare_info(header, request) -> list[str]:
    """Add the INFO fields hnet writes to the VCF header; returns their names."""
    model_name = os.path.basename(os.path.normpath(str(request.model)))
    what = f"over the reference +-{request.flank} bases, model {model_name}"
    fields = [("HNET_DLL", "A", "Float",
               f"hnet: log-likelihood of the alternative minus the reference window (natural log), {what}")]
    if request.both_strands:
        fields += [("HNET_DLL_RC", "A", "Float", f"hnet: HNET_DLL on the reverse-complement strand, {what}"),
                   ("HNET_DLL_MEAN", "A", "Float", "hnet: mean of HNET_DLL and HNET_DLL_RC")]
    fields += [("HNET_SKIP", 1, "String", "hnet: why the record was not scored (missing_contig, ref_mismatch, "
                                          "symbolic_allele, no_alt); it is passed through unchanged")]
    for name, number, kind, description in fields:
        if name not in header.info:  # a file scored before keeps its declaration; values are replaced
            header.info.add(name, number, kind, description)
    return [name for name, *_ in fields]


def _score_records(vcf_in, reference, request, scorer: "_VariantScorer", sink, reporter) -> None:
    """Every record of the VCF, scored in groups of BATCH_RECORDS and written in input order."""
    group: list[_Pending] = []
    try:
        for rec in vcf_in:
            scorer.counts["records"] += 1
            skip, windows = variant_windows(reference, rec.chrom, rec.pos, rec.ref or "", rec.alts, request.flank)
            group.append(_Pending(rec, skip, windows))
            if len(group) >= BATCH_RECORDS:
                scorer.write_group(group, sink)
                reporter.advance(len(group))
                group = []
    except (OSError, ValueError) as exc:
        raise InputError(request.variants, f"cannot read record {scorer.counts['records']}: {exc}") from None
    if group:
        scorer.write_group(group, sink)
        reporter.advance(len(group))


class _VariantScorer:
    """Scores groups of records' windows (one batch of forward passes) and writes the records with hnet's INFO."""

    def __init__(self, model, ours: list[str], strands: int, **windows):
        self.model, self.ours, self.strands, self.windows = model, ours, strands, windows
        self.counts = {"records": 0, "scored_records": 0, "scored_alleles": 0}
        self.flagged: dict[str, int] = {}

    def _nats(self, group: list[_Pending]) -> dict:
        """(record k, window j, strand) -> negative log-likelihood of that window, in nats."""
        from hnet_cli.data.documents import Document
        from hnet_cli.data.readers.fasta import reverse_complement
        from hnet_cli.eval.corpus import scored_documents

        docs, owners = [], []
        for k, item in enumerate(group):
            for j, window in enumerate(item.windows):
                if window is None:
                    continue
                for strand in range(self.strands):
                    docs.append(Document(window if strand == 0 else reverse_complement(window), "vcf", ""))
                    owners.append((k, j, strand))
        nats = [0.0] * len(docs)
        for done in scored_documents(self.model, docs, **self.windows):
            nats[done.index] = done.nats
        return dict(zip(owners, nats))

    def write_group(self, group: list[_Pending], sink) -> None:
        table = self._nats(group)
        for k, item in enumerate(group):
            rec = item.record
            for name in self.ours:
                if name in rec.info:
                    del rec.info[name]
            if item.skip is not None:
                rec.info["HNET_SKIP"] = item.skip
                self._flag(item.skip)
            else:
                self._annotate(rec, item, k, table)
            sink.write(str(rec))

    def _annotate(self, rec, item: _Pending, k: int, table: dict) -> None:
        per_strand = []
        for strand in range(self.strands):
            per_strand.append(tuple(
                None if item.windows[j] is None else table[(k, 0, strand)] - table[(k, j, strand)]
                for j in range(1, len(item.windows))))  # ln p(alt) - ln p(ref) = nats_ref - nats_alt
        rec.info["HNET_DLL"] = per_strand[0]
        if self.strands == 2:
            rec.info["HNET_DLL_RC"] = per_strand[1]
            rec.info["HNET_DLL_MEAN"] = tuple(None if f is None else (f + r) / 2
                                              for f, r in zip(per_strand[0], per_strand[1]))
        self.counts["scored_records"] += 1
        self.counts["scored_alleles"] += sum(w is not None for w in item.windows[1:])
        unscorable = sum(w is None for w in item.windows[1:])
        if unscorable:
            self._flag("symbolic_allele (other alleles scored)", unscorable)

    def _flag(self, reason: str, n: int = 1) -> None:
        self.flagged[reason] = self.flagged.get(reason, 0) + n
