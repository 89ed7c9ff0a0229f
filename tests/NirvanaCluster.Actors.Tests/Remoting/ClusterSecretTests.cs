using NirvanaCluster.Actors.Remoting;

namespace NirvanaCluster.Actors.Tests.Remoting;

public class ClusterSecretTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    private static byte[] KeyOf(ClusterSecret secret) => secret.Key.ToArray();

    [Fact]
    public void A_secret_file_with_a_trailing_newline_gives_the_same_key_as_the_value()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "correct-horse-battery-staple\n");
            var fromFile = ClusterSecret.Load(path, Env());
            var fromEnvFile = ClusterSecret.Load(null, Env((ClusterSecret.FileEnvironmentVariable, path), (ClusterSecret.EnvironmentVariable, "something-else-entirely")));
            var fromValue = ClusterSecret.Load(null, Env((ClusterSecret.EnvironmentVariable, "correct-horse-battery-staple")));
            Assert.Equal(KeyOf(fromValue), KeyOf(fromFile));
            Assert.Equal(KeyOf(fromValue), KeyOf(fromEnvFile)); // the file variable wins over the value
            Assert.DoesNotContain("horse", fromValue.ToString());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Missing_unreadable_and_short_secrets_say_what_to_do()
    {
        var none = Assert.Throws<InvalidOperationException>(() => ClusterSecret.Load(null, Env()));
        Assert.Contains(ClusterSecret.EnvironmentVariable, none.Message);
        Assert.Contains(ClusterSecret.FileEnvironmentVariable, none.Message);

        var missing = Assert.Throws<InvalidOperationException>(() => ClusterSecret.Load("/nonexistent/secret.txt", Env()));
        Assert.Contains("/nonexistent/secret.txt", missing.Message);

        var shortOne = Assert.Throws<ArgumentException>(() => ClusterSecret.Load(null, Env((ClusterSecret.EnvironmentVariable, "short"))));
        Assert.Contains("at least 16", shortOne.Message);
        Assert.Contains(ClusterSecret.EnvironmentVariable, shortOne.Message);
    }
}
