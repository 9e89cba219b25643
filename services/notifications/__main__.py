from services.core.entry import service_main
from services.notifications.app import MIGRATIONS, WORKERS, build

service_main("notifications", MIGRATIONS, build, workers=WORKERS)
