"""The reports service: the figures of a committee's periodic review (sơ kết), issue 15.

Shape (docs/reports.md): a service of its own that owns no source data. Its `consume` worker
pulls the identity, meetings, documents and notifications event logs (services.core.outbox) into
read models in its own database (consumers.py); its gRPC server (sotay.reports.v1) answers per
unit subtree and period (month, quarter, year, custom) from those tables alone (figures.py), so a
province-wide yearly report never calls the other services, and they carry no reporting load.
It owns one thing: the cells exempt from the rollout, with a reason (exemptions.py). Output:
the figures (GetReport), an XLSX workbook (workbook.py) and the DOCX review report (review.py)
with charts (charts.py, also drawn as SVG by the web page). An upgraded installation is backfilled
from the producers' `report-facts` snapshots (consumers.py, docs/reports.md).
Access is checked on its own copy of the units tree: admins and editors over the unit, a cell's
committee for their cell.
"""
