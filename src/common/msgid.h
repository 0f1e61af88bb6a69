/*
 * msgid.h - MESSAGE_IDs of the audit (lifecycle) journal records. Each has
 * an entry in cc-proxy.catalog, which explains it and its fields. Never
 * change an id: operators match on them.
 *
 * Fields used by these records:
 *   CC_CONTAINER_ID  the VM's container id
 *   CC_HELPER_PID    pid of the VM's helper
 *   CC_HELPER_UID    uid the helper runs as
 *   CC_SECCOMP       "1" when the helper's seccomp filter is on
 *   CC_CLIENT_PID, CC_CLIENT_UID, CC_CLIENT_GID  peer credentials
 *   CC_TOKEN_PREFIX  first 8 characters of an I/O token (never the whole token)
 *   CC_EXIT_STATUS   helper exit status, CC_SIGNAL its killing signal name
 *   CC_REASON        why (free text)
 *   CC_TOKENS, CC_TOKENS_CLAIMED  tokens of an adopted VM, of which held by shims
 *   CC_VMS_ADOPTED, CC_VMS_LOST   helpers taken back / refused at a restart
 */
#pragma once

#define MSGID_VM_REGISTERED	"7dab474e392541fcba3857539dfc421e"
#define MSGID_HELPER_STARTED	"73f16e276d1c4fc19d90b350195c67ed"
#define MSGID_SHIM_CONNECTED	"d1b92f908a404824ad79029456231644"
#define MSGID_SHIM_LOST		"46b39103db31498eb8b9da0fd33917fd"
#define MSGID_HELPER_STOPPED	"ef2a92318f3d4ad8ba32b57f29699a0a"
#define MSGID_VM_UNREGISTERED	"ac77b8cb3d864ef8babe7e48c00a5aed"
#define MSGID_CLIENT_CONNECTED	"0b767aa21b7b46b2932bd57986352758"
#define MSGID_HELPER_KILLED	"10fc15522b83409dab4e31eb3251c6ed"
#define MSGID_VM_ADOPTED	"cd228ee3b3854811824f11676251ee5c"
#define MSGID_MASTER_RESTARTED	"e8f15c56233842b8a049810c9cf56b29"
