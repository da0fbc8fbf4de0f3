/* Dumps a passwd or group file through glibc's fgetpwent/fgetgrent; the
 * *.glibc golden files were made with it on Debian 12 (glibc 2.36):
 *   gcc -o dump glibc_dump.c && ./dump passwd passwd > passwd.glibc */
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  FILE *f = fopen(argv[2], "r");
  if (!strcmp(argv[1], "passwd")) {
    struct passwd *p;
    while ((p = fgetpwent(f)) != NULL)
      printf("%s|%s|%u|%u|%s|%s|%s\n", p->pw_name, p->pw_passwd, p->pw_uid, p->pw_gid, p->pw_gecos, p->pw_dir, p->pw_shell);
  } else {
    struct group *g;
    while ((g = fgetgrent(f)) != NULL) {
      printf("%s|%s|%u|", g->gr_name, g->gr_passwd, g->gr_gid);
      for (char **m = g->gr_mem; *m; m++) printf("%s%s", m == g->gr_mem ? "" : ",", *m);
      printf("\n");
    }
  }
  return 0;
}
