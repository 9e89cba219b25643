from services.core.entry import service_main
from services.identity.app import COMMANDS, MIGRATIONS, build
from services.identity.revocation import StoredRevocations

service_main("identity", MIGRATIONS, build, revocations=StoredRevocations, workers=COMMANDS)
