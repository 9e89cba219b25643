from services.core.entry import service_main
from services.documents.app import COMMANDS, MIGRATIONS, WORKERS, build

service_main("documents", MIGRATIONS, build, workers={**WORKERS, **COMMANDS})
