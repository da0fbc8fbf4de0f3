/* Dumps a utmp/wtmp file through glibc's getutxent; the *.glibc golden
 * files were made with it on Debian 12 (glibc 2.36, x86_64):
 *   gcc -o dump glibc_dump.c && ./dump utmp > utmp.glibc
 * tv_sec is printed as unsigned, as gosquery reports it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdint.h>
#include <utmpx.h>
int main(int argc, char **argv) {
  struct utmpx *u;
  utmpxname(argv[1]);
  setutxent();
  while ((u = getutxent()) != NULL)
    printf("%d|%d|%.*s|%.*s|%.*s|%.*s|%u\n", u->ut_type, u->ut_pid,
           (int)sizeof u->ut_line, u->ut_line, (int)sizeof u->ut_id, u->ut_id,
           (int)sizeof u->ut_user, u->ut_user, (int)sizeof u->ut_host, u->ut_host,
           (uint32_t)u->ut_tv.tv_sec);
  endutxent();
  return 0;
}
