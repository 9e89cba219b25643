from services.core.entry import service_main
from services.reports.app import MIGRATIONS, WORKERS, build

service_main("reports", MIGRATIONS, build, workers=WORKERS)
