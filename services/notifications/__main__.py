from services.core.entry import service_main
from services.notifications.app import COMMANDS, MIGRATIONS, WORKERS, build

service_main("notifications", MIGRATIONS, build, workers={**WORKERS, **COMMANDS})
