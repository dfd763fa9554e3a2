import Testing

@testable import TaskCore

/// `root_fs` must parse with Go's `net/url.Parse` and have a scheme (lifecycle.md §8.2).
@Suite("rootfs URL syntax")
struct ValidationRootFSURLTests {
    @Test(arguments: [
        // the conformance suite's accepted forms
        "docker:///busybox", "preloaded:cflinuxfs4", "docker://registry.example.com:5000/org/img#v1",
        "http://example.com/rootfs.tar",
        // scheme forms
        "a:", "scheme+x.y-z:opaque", "DOCKER:///busybox", "docker:?query",
        // opaque text is not checked further
        "preloaded:%zz", "preloaded:cflinuxfs4:extra", "docker:busybox with spaces",
        // authority forms
        "docker://host:/x", "docker://host", "docker://:5000/x", "docker://user:pa%20ss@host/x",
        "docker://a@b@host/x", "docker://[::1]:5000/x", "docker://[fe80::1%25en0]/x", "docker://<host>/x",
        "docker://ho%C3%A9st/x", "docker://h\u{e9}st/x", "docker://host%25/x",
        "docker://host:/x:", "docker://us/er@host",  // the authority ends at the first "/"
        // the query is never checked; the fragment only for escapes
        "http://example.com/a%20b?x=%zz", "docker:///x#frag%20ment", "docker:///x#", "docker:///x#a#b",
        "docker:///x#line\nbreak",
    ])
    func accepted(rootFs: String) {
        #expect(RootFSURLSyntax.isValid(rootFs), "\(rootFs)")
    }

    @Test(arguments: [
        // the conformance suite's refused forms
        "busybox", "/var/vcap/rootfs", "://nothing", "docker:///busy\nbox", "%zz",
        // no scheme
        "", "*", "1docker:x", "+docker:x", "doc_ker:x", "docker", ":x",
        // control bytes before the fragment
        "docker:///x\u{7f}", "preloaded:cf\u{0}linuxfs4", "docker:///x?\t",
        // bad escapes in path, fragment or userinfo
        "docker:///a%zz", "docker:///a%2", "docker:///a%", "docker:///a#%zz", "preloaded:x#%zz",
        "docker://us%zzer@host/x",
        // bad ports
        "docker://host:abc/x", "docker://host:50a0/x", "docker://host:5000 /x", "docker://[::1]x/x", "docker://[::1]:x/x",
        "docker://[::1/x",
        // bytes a host may not hold
        "docker://ho st/x", "docker://host%41/x", "docker://ho{st/x", "docker://ho|st/x",
        "docker://[fe80::1%25en%0A]/x", "docker://[fe80::1%25e n]/x",
        // bytes a userinfo may not hold
        "docker://us er@host/x", "docker://us\u{e9}r@host/x", "docker://us[er@host/x",
    ])
    func refused(rootFs: String) {
        #expect(!RootFSURLSyntax.isValid(rootFs), "\(rootFs)")
    }
}
