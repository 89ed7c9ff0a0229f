using NirvanaCluster.Actors.Core;

namespace NirvanaCluster.Actors.Tests.Core;

public class AddressTests
{
    [Theory]
    [InlineData("nirvana://coordinator@10.0.0.5:2552/user/job/node-1", "coordinator", "10.0.0.5", 2552, "/user/job/node-1")]
    [InlineData("nirvana://node@nirvana-node-0.nirvana.default.svc:7000/system/cluster", "node", "nirvana-node-0.nirvana.default.svc", 7000, "/system/cluster")]
    [InlineData("nirvana://local/user/a", "local", null, null, "/user/a")]
    [InlineData("nirvana://v6@[::1]:9000/user/a", "v6", "::1", 9000, "/user/a")]
    public void Paths_round_trip_through_text(string text, string system, string? host, int? port, string local)
    {
        var path = ActorPath.Parse(text);
        Assert.Equal(new Address(system, host, port), path.Address);
        Assert.Equal(local, path.LocalPath);
        Assert.Equal(text, path.ToString());
        Assert.Equal(path, ActorPath.Parse(path.ToString()));
    }

    [Theory]
    [InlineData("http://x@h:1/user/a", "must start with 'nirvana://'")]
    [InlineData("nirvana://x@h/user/a", "@host:port")]
    [InlineData("nirvana://x@h:0/user/a", "port")]
    [InlineData("nirvana://x@h:1", "must look like")]
    [InlineData("nirvana://x@h:1/user//a", "local actor path")]
    [InlineData("nirvana://bad name@h:1/user/a", "actor system name")]
    public void Malformed_paths_say_what_was_expected(string text, string fragment)
    {
        var e = Assert.Throws<FormatException>(() => ActorPath.Parse(text));
        Assert.Contains(fragment, e.Message);
    }
}
