from services.core.entry import service_main
from services.identity.app import MIGRATIONS, build

service_main("identity", MIGRATIONS, build)
