/* Prints the kernel's own layout of the structures and ioctl numbers package volume
 * encodes by hand, one "name value" per line, for TestKernelLayout to compare. */
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <linux/dm-ioctl.h>
#include <linux/raid/md_p.h>
#include <linux/major.h>
#include <linux/raid/md_u.h>

#define P(name, v) printf("%s %llu\n", name, (unsigned long long)(v))
#define OFF(t, f) P(#t "." #f, offsetof(struct t, f))

int main(void) {
	P("sizeof.dm_ioctl", sizeof(struct dm_ioctl));
	OFF(dm_ioctl, version); OFF(dm_ioctl, data_size); OFF(dm_ioctl, data_start);
	OFF(dm_ioctl, target_count); OFF(dm_ioctl, open_count); OFF(dm_ioctl, flags);
	OFF(dm_ioctl, event_nr); OFF(dm_ioctl, dev); OFF(dm_ioctl, name); OFF(dm_ioctl, uuid);
	P("sizeof.dm_target_spec", sizeof(struct dm_target_spec));
	OFF(dm_target_spec, sector_start); OFF(dm_target_spec, length); OFF(dm_target_spec, status);
	OFF(dm_target_spec, next); OFF(dm_target_spec, target_type);
	P("DM_NAME_LEN", DM_NAME_LEN); P("DM_UUID_LEN", DM_UUID_LEN); P("DM_MAX_TYPE_NAME", DM_MAX_TYPE_NAME);
	P("DM_VERSION", DM_VERSION); P("DM_DEV_CREATE", DM_DEV_CREATE); P("DM_DEV_REMOVE", DM_DEV_REMOVE);
	P("DM_DEV_SUSPEND", DM_DEV_SUSPEND); P("DM_DEV_STATUS", DM_DEV_STATUS);
	P("DM_TABLE_LOAD", DM_TABLE_LOAD); P("DM_TABLE_STATUS", DM_TABLE_STATUS);
	P("DM_VERSION_MAJOR", DM_VERSION_MAJOR);
	P("DM_READONLY_FLAG", DM_READONLY_FLAG); P("DM_SUSPEND_FLAG", DM_SUSPEND_FLAG);
	P("DM_STATUS_TABLE_FLAG", DM_STATUS_TABLE_FLAG); P("DM_ACTIVE_PRESENT_FLAG", DM_ACTIVE_PRESENT_FLAG);
	P("DM_BUFFER_FULL_FLAG", DM_BUFFER_FULL_FLAG);

	P("sizeof.mdp_superblock_1", sizeof(struct mdp_superblock_1));
	OFF(mdp_superblock_1, magic); OFF(mdp_superblock_1, major_version); OFF(mdp_superblock_1, feature_map);
	OFF(mdp_superblock_1, set_uuid); OFF(mdp_superblock_1, set_name); OFF(mdp_superblock_1, ctime);
	OFF(mdp_superblock_1, level); OFF(mdp_superblock_1, layout); OFF(mdp_superblock_1, size);
	OFF(mdp_superblock_1, chunksize); OFF(mdp_superblock_1, raid_disks);
	OFF(mdp_superblock_1, data_offset); OFF(mdp_superblock_1, data_size); OFF(mdp_superblock_1, super_offset);
	OFF(mdp_superblock_1, dev_number); OFF(mdp_superblock_1, device_uuid); OFF(mdp_superblock_1, utime);
	OFF(mdp_superblock_1, events); OFF(mdp_superblock_1, resync_offset); OFF(mdp_superblock_1, sb_csum);
	OFF(mdp_superblock_1, max_dev); OFF(mdp_superblock_1, dev_roles);
	P("MD_SB_MAGIC", MD_SB_MAGIC);
	P("MD_FEATURE_RESHAPE_ACTIVE", MD_FEATURE_RESHAPE_ACTIVE); P("MD_FEATURE_JOURNAL", MD_FEATURE_JOURNAL);
	P("sizeof.mdu_array_info_t", sizeof(mdu_array_info_t));
	P("mdu_array_info_t.major_version", offsetof(mdu_array_info_t, major_version));
	P("mdu_array_info_t.minor_version", offsetof(mdu_array_info_t, minor_version));
	P("sizeof.mdu_disk_info_t", sizeof(mdu_disk_info_t));
	P("mdu_disk_info_t.major", offsetof(mdu_disk_info_t, major));
	P("mdu_disk_info_t.minor", offsetof(mdu_disk_info_t, minor));
	P("sizeof.mdu_param_t", sizeof(mdu_param_t));
	P("MD_MAJOR", MD_MAJOR);
	P("SET_ARRAY_INFO", SET_ARRAY_INFO); P("ADD_NEW_DISK", ADD_NEW_DISK); P("RUN_ARRAY", RUN_ARRAY);
	P("STOP_ARRAY", STOP_ARRAY); P("GET_ARRAY_INFO", GET_ARRAY_INFO);
	return 0;
}
