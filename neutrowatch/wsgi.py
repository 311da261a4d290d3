import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings")
application = get_wsgi_application()
# What is loaded by now (Django, the app, their modules) lives as long as the process: move it out
# of the cyclic garbage collector's reach, so that its full passes (about one ward request in five)
# do not walk it again and again. The ward's p95 server time drops by about 90 ms (bench-pages).
gc.freeze()
