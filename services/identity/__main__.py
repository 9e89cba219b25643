from services.core.entry import service_main
from services.identity import report_facts
from services.identity.app import MIGRATIONS, build
from services.identity.revocation import StoredRevocations

service_main("identity", MIGRATIONS, build, revocations=StoredRevocations, workers={"report-facts": report_facts.run})
