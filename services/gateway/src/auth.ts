/**
 * The gateway verifies bearer tokens with the platform's `authenticate`: the same code, key and settings
 * every service verifies them with again. The gateway's own verdict serves its per-subject rate limit and
 * spares the services a request that would be refused anyway; the Authorization header goes on unchanged,
 * and no identity header is added (the services trust no one's word for the caller).
 */
export {
  AUTH_REALM,
  authSettings,
  authenticate,
  readPublicKeyFile,
  verifierOptionsFrom,
  type AuthContext,
  type AuthSettings,
  type AuthenticateOptions,
} from '@cdc-outbox-saga/platform';
