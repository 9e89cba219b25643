from services.core.entry import service_main
from services.meetings.app import COMMANDS, MIGRATIONS, WORKERS, build

service_main("meetings", MIGRATIONS, build, workers={**WORKERS, **COMMANDS})
