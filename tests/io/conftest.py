from __future__ import annotations

from pathlib import Path

import pytest

SCHEMAS = Path(__file__).parent / "data" / "jmt_schemas"


@pytest.fixture(scope="session")
def archive_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMAS / "Archive.xsd"))


@pytest.fixture(scope="session")
def jmt_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMAS / "JMTmodel.xsd"))
