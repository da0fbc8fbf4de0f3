/* Writes utmp and wtmp test files with glibc's own pututxline and
 * updwtmpx, so the records have the real layout:
 *   gcc -o gen gen.c && ./gen utmp wtmp */
#define _GNU_SOURCE
#include <utmp.h>
#include <utmpx.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <fcntl.h>

static void fill(struct utmpx *u, short type, pid_t pid, const char *line, const char *id,
                 const char *user, const char *host, long sec, long usec) {
  memset(u, 0, sizeof *u);
  u->ut_type = type;
  u->ut_pid = pid;
  strncpy(u->ut_line, line, sizeof u->ut_line);
  strncpy(u->ut_id, id, sizeof u->ut_id);
  strncpy(u->ut_user, user, sizeof u->ut_user);
  strncpy(u->ut_host, host, sizeof u->ut_host);
  u->ut_tv.tv_sec = (int32_t)sec;
  u->ut_tv.tv_usec = usec;
  u->ut_session = pid;
}

int main(int argc, char **argv) {
  const char *utmp = argv[1], *wtmp = argv[2];
  close(open(utmp, O_CREAT|O_TRUNC|O_WRONLY, 0644));
  close(open(wtmp, O_CREAT|O_TRUNC|O_WRONLY, 0644));
  printf("sizeof utmpx=%zu\n", sizeof(struct utmpx));
  if (utmpxname(utmp) != 0) { perror("utmpxname"); return 1; }
  setutxent();
  struct utmpx u;
  char longuser[33]; memset(longuser, 'u', 32); longuser[32] = 0;
  char longhost[257]; for (int i = 0; i < 256; i++) longhost[i] = 'a' + (i % 26); longhost[256] = 0;

  fill(&u, BOOT_TIME, 0, "~", "~~", "reboot", "6.1.0-test", 1700000000, 1);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, RUN_LVL, 53, "~", "~~", "runlevel", "6.1.0-test", 1700000005, 2);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, INIT_PROCESS, 1, "", "si", "", "", 1700000006, 0);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, LOGIN_PROCESS, 612, "tty1", "tty1", "LOGIN", "", 1700000010, 3);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, USER_PROCESS, 4242, "pts/0", "ts/0", "alice", "192.0.2.10", 1700000100, 4);
  inet_pton(AF_INET, "192.0.2.10", &u.ut_addr_v6[0]);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, USER_PROCESS, 4300, "pts/1", "ts/1", longuser, longhost, 1700000200, 5);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, USER_PROCESS, 4400, "pts/2", "ts/2", "b\xff\xfe" "ob", "host with spaces (x)", 2147483748L, 6);
  pututxline(&u); updwtmpx(wtmp, &u);
  fill(&u, USER_PROCESS, 700, "tty1", "tty1", "root", "", 1700000300, 7);
  pututxline(&u); updwtmpx(wtmp, &u);
  /* alice logs out: DEAD_PROCESS replaces her utmp slot, appended to wtmp */
  fill(&u, DEAD_PROCESS, 4242, "pts/0", "ts/0", "", "", 1700000400, 8);
  pututxline(&u); updwtmpx(wtmp, &u);
  endutxent();
  return 0;
}
