#!/bin/sh
# The protected page of the Shibboleth SP test: what the SP told the application about the
# person, as CGI variables (mod_shib passes attributes in the environment by default).
echo "Content-Type: text/plain; charset=utf-8"
echo
echo "REMOTE_USER=${REMOTE_USER}"
echo "Shib-Session-ID=${Shib_Session_ID}"
echo "Shib-Identity-Provider=${Shib_Identity_Provider}"
echo "Shib-Authentication-Method=${Shib_Authentication_Method}"
echo "Shib-Session-Index=${Shib_Session_Index}"
echo "mail=${mail}"
echo "persistent-id=${persistent_id}"
